"""DynamoDB answers from the local stack's moto without walking botocore's shapes for every attribute.

moto 5.2.5 serialises every DynamoDB result through its model-driven response serializer: for each value of
each attribute of each item it looks the member up in the operation's output shape, tries the name's aliases
and converts it by type. A GetItem of one user item spent most of its time there (the profile in README's
benchmark section): more than moto's own work of finding the item.

Most of what the application asks for (GetItem, BatchGetItem, Query, the writes and transactions, and the
stream relay's GetRecords, which moto answered under its lock, up to 1,000 records at a time) has a result
that is already the wire JSON: dicts, lists, strings, numbers and booleans, in DynamoDB's own attribute-value
format, under the output shape's member names. For those, this module writes the same JSON with json.dumps;
anything else (a binary attribute, a None, a datetime, an operation not listed) goes through moto's serializer
as before; a top-level key the output shape does not name is left out, as the serializer leaves it out.
tests/integration/test_moto_responses.py holds the two to the same JSON on every listed operation.
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime
from typing import Any

# Operations whose results are plain JSON in the wire format when they hold no binary values
FAST_OPERATIONS = frozenset({("dynamodb", name) for name in (
    "GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "TransactWriteItems", "TransactGetItems")} | {("dynamodbstreams", "GetRecords")})
# ... and the one whose result also holds datetimes (a stream record's ApproximateCreationDateTime), written
# as the JSON serializer writes a timestamp: seconds since the epoch, milliseconds kept
DATED_OPERATIONS = frozenset({("dynamodbstreams", "GetRecords")})
_PLAIN_SCALARS = (str, int, float, bool)
_original: list[Any] = []


def _plain(value: Any, dates: bool) -> bool:
    """Only dicts with string keys, lists, strings, numbers and booleans (and datetimes where `dates`): what
    json.dumps writes as the serializer would (no None, which the serializer leaves out; no bytes, which it
    base64-encodes)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, dates) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v, dates) for v in value)
    return isinstance(value, _PLAIN_SCALARS) or (dates and isinstance(value, datetime))


def _timestamp(value: Any) -> int | float:
    """moto's JSON serializer's unixtimestamp (naive datetimes are UTC there too)."""
    if not isinstance(value, datetime):
        raise TypeError(f"not JSON: {type(value).__name__}")
    seconds = calendar.timegm(value.utctimetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def fast_body(operation_model: Any, result: Any) -> str | None:
    """The response body, written directly, or None when moto's serializer must write it."""
    operation = (operation_model.service_model.service_name, operation_model.name)
    if operation not in FAST_OPERATIONS:
        return None
    shape = operation_model.output_shape
    if not isinstance(result, dict) or shape is None:
        return None
    members = shape.members
    if not set(result) <= set(members):  # the serializer writes the shape's members only (DeleteItem adds one)
        result = {k: v for k, v in result.items() if k in members}
    dates = operation in DATED_OPERATIONS
    if not _plain(result, dates):
        return None
    return json.dumps(result, default=_timestamp if dates else None)  # as the serializer writes it


def install() -> None:
    from moto.core.responses import ActionResult  # DynamoDB's results are ActionResult or its DynamoResult

    if _original:
        return
    original = ActionResult.execute_result
    _original.append(original)

    def execute_result(self: Any, context: Any) -> Any:
        from moto import settings

        body = None if settings.PRETTIFY_RESPONSES else fast_body(context.operation_model, self.result)
        if body is None:
            return original(self, context)
        return 200, {"Content-Type": context.serializer_class.APPLICATION_AMZ_JSON.format(
            version=context.service_model.metadata["jsonVersion"])}, body

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.core.responses import ActionResult

    if _original:
        ActionResult.execute_result = _original.pop()  # type: ignore[method-assign]
