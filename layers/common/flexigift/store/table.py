"""Low-level access to the single table with the DynamoDB client (not the heavier resource API).

Items cross this module as plain dicts whose numbers are Decimal, never float.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from flexigift.aws import dynamodb
from flexigift.settings import get_settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attr(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_attr(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(v=3) -> {':v': {'N': '3'}}."""
    return {f":{k}": _serializer.serialize(v) for k, v in kwargs.items()}


def table_name() -> str:
    return get_settings().table_name


def get_item(key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
    response = dynamodb().get_item(TableName=table_name(), Key=to_attr(key), ConsistentRead=consistent)
    item = response.get("Item")
    return from_attr(item) if item else None


BATCH_GET_LIMIT = 100      # keys per BatchGetItem request (DynamoDB's limit)
BATCH_GET_ROUNDS = 8       # attempts at keys DynamoDB left unprocessed (throttling), with backoff


class Unprocessed(Exception):
    """DynamoDB kept leaving keys of a BatchGetItem (items of a BatchWriteItem) unprocessed (throttled) after
    every retry."""


class ReadCache:
    """Read-mostly items kept per execution environment for `read_cache_seconds` (settings): products and
    their natural-id guards (checkout reads them for every quote and payment), programs and catalog items
    (every reward order). A popular product would otherwise be one partition read by every payment of the
    system: with the cache it is read once per environment per period. Only reads that ask for it use it
    (batch_get(cached=True): a quote's, a payment's and a reward order's); every other read (GET
    /products/{id}, a listing, an update's precondition) goes to the table. Only items found are kept (a record
    created elsewhere is seen at once), except a program's absence (the `default` program needs no item, and
    every reward order of it would read that missing item): no key of another program exists before its
    program does, so no environment can have cached its absence. A write through this module drops the
    item it writes, so this
    environment sees its own changes at once, others within the period (as API Gateway's authorizer cache
    does for a revoked key). Money never comes from here: cards, balances, claims are always read."""

    CACHED = re.compile(r"^(P#[^#]+#(UNIQUE#)?PRODUCT#|PROGRAM#|REWARD#\d+$)")
    ABSENCE_CACHED = re.compile(r"^PROGRAM#")
    ABSENT: dict[str, Any] = {}   # what is held for an item known to be missing

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}

    def _slot(self, key: dict[str, Any]) -> tuple[str, str, str] | None:
        pk, sk = key.get("PK"), key.get("SK")
        if not isinstance(pk, str) or not isinstance(sk, str) or not self.CACHED.match(pk):
            return None
        return (table_name(), pk, sk)

    def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        """The item held (ABSENT: known to be missing), or None when this environment must read it."""
        slot = self._slot(key)
        held = self._items.get(slot) if slot else None
        if held is None or held[0] < time.monotonic():
            return None
        return held[1] if held[1] is self.ABSENT else copy.deepcopy(held[1])

    def keep_absent(self, key: dict[str, str]) -> None:
        period = get_settings().read_cache_seconds
        slot = self._slot(key)
        if slot and period > 0 and self.ABSENCE_CACHED.match(slot[1]):
            self._items[slot] = (time.monotonic() + period, self.ABSENT)

    def keep(self, item: dict[str, Any]) -> None:
        period = get_settings().read_cache_seconds
        slot = self._slot(item)
        if slot and period > 0:
            self._items[slot] = (time.monotonic() + period, copy.deepcopy(item))

    def drop(self, key: dict[str, Any]) -> None:
        plain = {k: (v.get("S") if isinstance(v, dict) else v) for k, v in key.items() if k in ("PK", "SK")}
        slot = self._slot(plain)
        if slot:
            self._items.pop(slot, None)

    def forget(self) -> None:
        self._items.clear()


read_cache = ReadCache()


def batch_get(item_keys: list[dict[str, str]], consistent: bool = True,
              cached: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    """Several items by key in one BatchGetItem (one per 100 distinct keys), read consistently: found items
    by (PK, SK); a missing item is simply absent. Keys DynamoDB leaves unprocessed are asked for again with
    jittered backoff, as its documentation asks. With `cached`, the read-mostly items the ReadCache holds
    come from it, and those read are kept there."""
    cache = read_cache if cached else None
    found: dict[tuple[str, str], dict[str, Any]] = {}
    wanted = {}
    for k in item_keys:  # a repeated key is an error for DynamoDB
        held = cache.get(k) if cache is not None else None
        if held is ReadCache.ABSENT:
            continue
        if held is not None:
            found[(k["PK"], k["SK"])] = held
        else:
            wanted[(k["PK"], k["SK"])] = k
    distinct = list(wanted.values())
    for start in range(0, len(distinct), BATCH_GET_LIMIT):
        pending: dict[str, Any] = {table_name(): {
            "Keys": [to_attr(k) for k in distinct[start:start + BATCH_GET_LIMIT]], "ConsistentRead": consistent}}
        for attempt in range(BATCH_GET_ROUNDS):
            if attempt:
                time.sleep(random.uniform(0, min(0.5, 0.02 * 2 ** attempt)))  # noqa: S311  # nosec B311  # retry jitter, not a secret
            response = dynamodb().batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(table_name(), []):
                item = from_attr(raw)
                found[(item["PK"], item["SK"])] = item
                if cache is not None:
                    cache.keep(item)
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        else:
            raise Unprocessed(f"{len(pending[table_name()]['Keys'])} keys were left unprocessed")
        for key in distinct[start:start + BATCH_GET_LIMIT] if cache is not None else ():
            if (key["PK"], key["SK"]) not in found:
                cache.keep_absent(key)
    return found


BATCH_WRITE_LIMIT = 25    # items per BatchWriteItem request (DynamoDB's limit)


def batch_put(items: list[dict[str, Any]]) -> None:
    """Put items, unconditionally, with BatchWriteItem (one request per 25). Items DynamoDB leaves unprocessed
    (throttling) are sent again with jittered backoff; Unprocessed if some are still left after every round
    (the caller's invocation then fails, and whoever retries it puts the same items again)."""
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table_name(): [{"PutRequest": {"Item": to_attr(item)}}
                                                  for item in items[start:start + BATCH_WRITE_LIMIT]]}
        for attempt in range(BATCH_GET_ROUNDS):
            if attempt:
                time.sleep(random.uniform(0, min(0.5, 0.02 * 2 ** attempt)))  # noqa: S311  # nosec B311  # retry jitter, not a secret
            pending = dynamodb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise Unprocessed(f"{len(pending[table_name()])} items were left unprocessed")


def found_in(items: dict[tuple[str, str], dict[str, Any]], key: dict[str, str]) -> dict[str, Any] | None:
    return items.get((key["PK"], key["SK"]))


@dataclass
class ConditionFailed(Exception):
    """A single conditional write's condition failed; `item` is the stored item as DynamoDB returned it
    (ReturnValuesOnConditionCheckFailure=ALL_OLD), None when there is no such item."""

    item: dict[str, Any] | None


def update_item(key: dict[str, str], expression: str, condition: str, names: dict[str, str] | None = None,
                vals: dict[str, Any] | None = None) -> dict[str, Any]:
    """One conditional UpdateItem; returns the item as written (ALL_NEW). A failed condition raises
    ConditionFailed with the stored item, so that no read is needed to tell 'missing' from 'changed'."""
    kwargs: dict[str, Any] = {"TableName": table_name(), "Key": to_attr(key), "UpdateExpression": expression,
                              "ConditionExpression": condition, "ReturnValues": "ALL_NEW",
                              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if vals:
        kwargs["ExpressionAttributeValues"] = values(**vals)
    read_cache.drop(key)
    try:
        response = dynamodb().update_item(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old = exc.response.get("Item")
        if old is None:  # absent item, or a backend that does not return it: ask, to be certain
            return_item = get_item(key)
            raise ConditionFailed(return_item) from None
        raise ConditionFailed(from_attr(old)) from None
    return from_attr(response["Attributes"])


def reserve_ids(key: dict[str, str], count: int) -> int:
    """Atomically add `count` to a counter item and return its new value: the ids value-count+1..value are
    this caller's (gaps allowed, no reuse)."""
    response = dynamodb().update_item(
        TableName=table_name(),
        Key=to_attr(key),
        UpdateExpression="ADD #v :n",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues=values(n=count),
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["value"]["N"])


class IdBlocks:
    """Integer ids reserved in blocks per execution environment: one counter write per block, not per id, so
    the counter item (one per kind and program) takes a small fraction of the creates. A block is 1 id the
    first time, then doubles up to MAX_BLOCK: an environment that creates a few records uses a few ids, a
    busy one writes the counter once per 64 creates. Ids stay unique integers; they are not consecutive
    across environments (two environments hold different blocks), and ids of a block an environment never
    uses are never issued (gaps, as a refused create already left)."""

    MAX_BLOCK = 64

    def __init__(self) -> None:
        self._blocks: dict[tuple[str, str, str], tuple[int, int, int]] = {}  # -> (next id, last id, block size)

    def next(self, key: dict[str, str]) -> int:
        slot = (table_name(), key["PK"], key["SK"])
        following, last, size = self._blocks.get(slot, (1, 0, 0))
        if following > last:
            size = min(self.MAX_BLOCK, max(1, size * 2))
            last = reserve_ids(key, size)
            following = last - size + 1
        self._blocks[slot] = (following + 1, last, size)
        return following

    def forget(self) -> None:
        """Drop every reserved block (tests that start a fresh table)."""
        self._blocks.clear()


id_blocks = IdBlocks()


def next_counter(key: dict[str, str]) -> int:
    """The next integer id of a counter, from this environment's block (IdBlocks)."""
    return id_blocks.next(key)


@dataclass
class Query:
    index: str | None
    pk_name: str
    pk_value: str
    limit: int
    start_key: dict[str, Any] | None = None
    filters: dict[str, Any] = field(default_factory=dict)  # attribute -> required value
    forward: bool = True
    sk_name: str | None = None      # with sk_prefix: only items whose sort key begins with it
    sk_prefix: str | None = None
    consistent: bool = False        # base table only: a strongly consistent read
    sk_after: str | None = None     # with sk_name: only sort keys after this one (before it, backwards)


T = TypeVar("T")
_readers: Any = None
_READERS_LOCK = threading.Lock()


def side_by_side(calls: list[Callable[[], T]]) -> list[T]:
    """Each call's answer, in the calls' order, the calls made at once (up to the client's connection pool,
    aws.MAX_POOL_CONNECTIONS, at a time): a sharded listing's page reads every shard (16 Queries, 64 for reward
    orders), and one after another their latencies would add up. The first exception raised is raised here."""
    if len(calls) <= 1:
        return [call() for call in calls]
    return list(_reader_pool().map(lambda call: call(), calls))


def _reader_pool() -> Any:
    """The execution environment's reader threads, started by its first sharded read (never during init)."""
    global _readers
    with _READERS_LOCK:
        if _readers is None:
            from concurrent.futures import ThreadPoolExecutor

            from flexigift.aws import MAX_POOL_CONNECTIONS

            _readers = ThreadPoolExecutor(max_workers=MAX_POOL_CONNECTIONS, thread_name_prefix="shard-read")
        return _readers


def query_page(q: Query) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a Query; returns items and the LastEvaluatedKey (deserialised) or None."""
    names = {"#pk": q.pk_name}
    vals: dict[str, Any] = {":pk": q.pk_value}
    conditions = []
    for i, (attribute, value) in enumerate(sorted(q.filters.items())):
        names[f"#f{i}"] = attribute
        vals[f":f{i}"] = value
        conditions.append(f"#f{i} = :f{i}")
    key_condition = "#pk = :pk"
    if q.sk_name and q.sk_prefix:
        names["#sk"] = q.sk_name
        vals[":skp"] = q.sk_prefix
        key_condition += " AND begins_with(#sk, :skp)"
    elif q.sk_name and q.sk_after is not None:
        names["#sk"] = q.sk_name
        vals[":ska"] = q.sk_after
        key_condition += " AND #sk > :ska" if q.forward else " AND #sk < :ska"
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(**{k[1:]: v for k, v in vals.items()}),
        "Limit": q.limit,
        "ScanIndexForward": q.forward,
    }
    if q.index:
        kwargs["IndexName"] = q.index
    elif q.consistent:
        kwargs["ConsistentRead"] = True
    if conditions:
        kwargs["FilterExpression"] = " AND ".join(conditions)
    if q.start_key:
        kwargs["ExclusiveStartKey"] = to_attr(q.start_key)
    response = dynamodb().query(**kwargs)
    last = response.get("LastEvaluatedKey")
    return [from_attr(i) for i in response.get("Items", [])], (from_attr(last) if last else None)


class TransactionCancelled(Exception):
    """A TransactWriteItems was cancelled; `reasons` holds one code per item ('None' = that item was fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    @property
    def contention(self) -> bool:
        return any(r in ("TransactionConflict", "ThrottlingError") for r in self.reasons)


class Transaction:
    """Collects the items of one TransactWriteItems and remembers what each stands for."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.labels: list[str] = []
        self.retry = 0

    def _add(self, label: str, op: str, body: dict[str, Any]) -> int:
        body["TableName"] = table_name()
        self.items.append({op: body})
        self.labels.append(label)
        return len(self.items) - 1

    def put(self, label: str, item: dict[str, Any], condition: str | None = None,
            names: dict[str, str] | None = None, vals: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {"Item": to_attr(item)}
        _conditions(body, condition, names, vals)
        return self._add(label, "Put", body)

    def update(self, label: str, key: dict[str, str], expression: str, condition: str | None = None,
               names: dict[str, str] | None = None, vals: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {"Key": to_attr(key), "UpdateExpression": expression}
        _conditions(body, condition, names, vals)
        return self._add(label, "Update", body)

    def delete(self, label: str, key: dict[str, str], condition: str | None = None,
               names: dict[str, str] | None = None, vals: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {"Key": to_attr(key)}
        _conditions(body, condition, names, vals)
        return self._add(label, "Delete", body)

    def check(self, label: str, key: dict[str, str], condition: str,
              names: dict[str, str] | None = None, vals: dict[str, Any] | None = None) -> int:
        body: dict[str, Any] = {"Key": to_attr(key)}
        _conditions(body, condition, names, vals)
        return self._add(label, "ConditionCheck", body)

    def failed_labels(self, cancelled: TransactionCancelled) -> list[str]:
        return [self.labels[i] for i in range(len(self.labels)) if cancelled.failed(i)]

    def client_request_token(self) -> str:
        """The ClientRequestToken of this transaction, derived from what it writes (keys, values, conditions),
        which the request determines. An SDK retry after a lost answer sends the same items and so the same
        token, and DynamoDB applies it at most once (for 10 minutes); a transaction that differs in anything
        (another request, a re-plan after a lost race, a later timestamp) gets another token, so a token is
        never refused for a mismatched body. `retry` counts our own re-sends of the same items after a
        cancellation by contention, which must be tried anew, not answered from the cancelled attempt."""
        canonical = json.dumps([self.retry, self.items], sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:36]

    def commit(self) -> None:
        for entry in self.items:
            (_, body), = entry.items()
            read_cache.drop(body.get("Key") or body.get("Item") or {})
        kwargs: dict[str, Any] = {"TransactItems": self.items, "ClientRequestToken": self.client_request_token()}
        try:
            dynamodb().transact_write_items(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "TransactionInProgressException":  # the same items are being applied
                raise TransactionCancelled(["TransactionConflict"]) from exc
            if error.get("Code") == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if not reasons:  # some backends only put the reasons in the message
                    message = error.get("Message", "")
                    inner = message[message.find("[") + 1: message.rfind("]")]
                    reasons = [r.strip() for r in inner.split(",")] if inner else []
                raise TransactionCancelled(reasons) from exc
            raise


def _conditions(body: dict[str, Any], condition: str | None, names: dict[str, str] | None,
                vals: dict[str, Any] | None) -> None:
    if condition:
        body["ConditionExpression"] = condition
    if names:
        body["ExpressionAttributeNames"] = names
    if vals:
        body["ExpressionAttributeValues"] = values(**vals)
