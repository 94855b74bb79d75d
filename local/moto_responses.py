"""DynamoDB answers from the local stack's moto without walking botocore's shapes for every attribute.

moto 5.2.5 serialises every DynamoDB result through its model-driven response serializer: for each value of
each attribute of each item it looks the member up in the operation's output shape, tries the name's aliases
and converts it by type. A GetItem of one user item spent most of its time there (the profile in README's
benchmark section): more than moto's own work of finding the item.

Most of what the application asks for (GetItem, BatchGetItem, Query, the writes and transactions) has a result
that is already the wire JSON: dicts, lists, strings, numbers and booleans, in DynamoDB's own attribute-value
format, under the output shape's member names. For those, this module writes the same JSON with json.dumps;
anything else (a binary attribute, a None, a datetime, an operation not listed) goes through moto's serializer
as before; a top-level key the output shape does not name is left out, as the serializer leaves it out.
tests/integration/test_moto_responses.py holds the two to the same JSON on every listed operation.
"""

from __future__ import annotations

import json
from typing import Any

# Operations whose results are plain JSON in DynamoDB's wire format when they hold no binary values
FAST_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
                             "BatchWriteItem", "TransactWriteItems", "TransactGetItems"})
_PLAIN_SCALARS = (str, int, float, bool)
_original: list[Any] = []


def _plain(value: Any) -> bool:
    """Only dicts with string keys, lists, strings, numbers and booleans: what json.dumps writes as the
    serializer would (no None, which the serializer leaves out; no bytes, which it base64-encodes)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN_SCALARS)


def fast_body(operation_model: Any, result: Any) -> str | None:
    """The response body, written directly, or None when moto's serializer must write it."""
    if operation_model.name not in FAST_OPERATIONS or operation_model.service_model.service_name != "dynamodb":
        return None
    shape = operation_model.output_shape
    if not isinstance(result, dict) or shape is None:
        return None
    members = shape.members
    if not set(result) <= set(members):  # the serializer writes the shape's members only (DeleteItem adds one)
        result = {k: v for k, v in result.items() if k in members}
    if not _plain(result):
        return None
    return json.dumps(result)  # as the serializer writes it (moto's PRETTIFY_RESPONSES aside: see install)


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
