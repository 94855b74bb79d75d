"""TransactWriteItems for the local stack's moto without copying whole tables.

moto 5.2.5 makes a transaction all-or-nothing by `copy.deepcopy` of every table the transaction names, once
per item, before applying anything, and by putting the copy back when an item fails. The cost of every
transaction therefore grows with the whole table (its stream shard included): on a stack that has served a
test session, a three-item transaction copied gigabytes, the process grew past 12 GiB, and garbage
collection stalled every request for longer than a function's timeout (CI saw those 500s).

This version keeps the same contract (every item's condition is checked against the table as the earlier
items of the transaction left it; any failure leaves the table, its items and its stream exactly as before;
the same cancellation reasons, per item, in the same order) with an undo journal instead: before an item is
written, a copy of that one item as it was (or "absent") and the length of its table's stream shard are
remembered; a cancelled transaction puts those items back in reverse order and cuts the stream back to its
old length. Its cost is the items it touches, not the table.

One difference, deliberately: moto leaves the earlier items of a transaction written when an entry names two
operations (TransactWriteSingleOpException); here that rolls back too, as DynamoDB does.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")
_ORIGINAL = DynamoDBBackend.transact_write_items
Reason = tuple[str | None, str | None, dict[str, Any] | None]


class _Journal:
    """What a transaction changed, so that it can be undone: items as they were, stream lengths."""

    def __init__(self) -> None:
        self.items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        self.streams: dict[int, tuple[Any, int]] = {}

    def remember(self, table: Table, hash_value: DynamoType, range_value: DynamoType | None,
                 current: Item | None) -> None:
        shard = table.stream_shard
        if shard is not None and id(shard) not in self.streams:
            self.streams[id(shard)] = (shard, len(shard.items))
        self.items.append((table, hash_value, range_value, copy.deepcopy(current)))

    def undo(self) -> None:
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before  # type: ignore[assignment]  # as moto stores it
                continue
            bucket = table.items.get(hash_value)
            if before is not None:
                table.items[hash_value][range_value] = before
            elif bucket is not None:
                bucket.pop(range_value, None)
                if not bucket:
                    del table.items[hash_value]
        for shard, length in self.streams.values():
            del shard.items[length:]
        self.items.clear()
        self.streams.clear()


def _key_values(backend: DynamoDBBackend, table: Table, op_type: str,
                op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
    else:
        key = op["Key"]
    return backend.get_keys_value(table, key)


def _apply(backend: DynamoDBBackend, journal: _Journal, seen: set[tuple[str, str, str]],
           entry: dict[str, Any]) -> Reason:
    """Check and apply one entry of the transaction; its cancellation reason (None, None, None when fine).
    Errors about the request as a whole (a duplicate target, an invalid expression) propagate."""
    if len(entry) != 1:
        raise TransactWriteSingleOpException
    op_type, op = next(iter(entry.items()))
    old_image: dict[str, Any] | None = None
    try:
        if op_type not in _OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = backend.get_table(table_name)
        hash_value, range_value = _key_values(backend, table, op_type, op)
        target = (table_name, repr(hash_value), repr(range_value))
        if target in seen:
            raise MultipleTransactionsException()
        seen.add(target)
        current = table.get_item(hash_value, range_value)
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(condition, names, values).expr(current):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                old_image = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=old_image)
        if op_type == "ConditionCheck":
            return None, None, None
        journal.remember(table, hash_value, range_value, current)
        written = {"condition_expression": condition, "expression_attribute_names": names,
                   "expression_attribute_values": values}
        if op_type == "Put":
            backend.put_item(table_name, op["Item"], **written)
        elif op_type == "Delete":
            backend.delete_item(table_name, op["Key"], **written)
        else:
            backend.update_item(table_name, op["Key"], update_expression=op["UpdateExpression"], **written)
        return None, None, None
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as failed:
        return "ConditionalCheckFailed", str(failed.message), old_image
    except Exception as exc:  # noqa: BLE001 - as moto: any other failure of an item is its cancellation reason
        return type(exc).__name__, str(exc), old_image


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal, seen = _Journal(), set[tuple[str, str, str]]()
    try:
        reasons = [_apply(self, journal, seen, entry) for entry in transact_items]
    except Exception:
        journal.undo()
        raise
    if any(code is not None for code, _, _ in reasons):
        journal.undo()
        raise TransactionCanceledException(reasons)


def install() -> None:
    """Use the journalled transaction in this process's moto (the local stack's server thread)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def uninstall() -> None:
    DynamoDBBackend.transact_write_items = _ORIGINAL  # type: ignore[method-assign]
