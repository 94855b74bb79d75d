"""The local stack's journalled TransactWriteItems (local/moto_transactions.py) against moto's own, which
copies whole tables: every scenario runs on both, and the answers, the table and its stream must agree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from local import moto_transactions

TABLE = "tx-test"
Scenario = Callable[[Any], None]


def _put(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    item = {"PK": {"S": pk}, "SK": {"S": sk}, **{k: {"N": str(v)} if isinstance(v, int) else {"S": v}
                                                   for k, v in attrs.items()}}
    return {"Put": {"TableName": TABLE, "Item": item}}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _seed(client: Any) -> None:
    client.put_item(TableName=TABLE, Item=_put("A", "1", balance=10, note="seed")["Put"]["Item"])
    client.put_item(TableName=TABLE, Item=_put("A", "2", balance=5)["Put"]["Item"])


def _debit(pk: str, sk: str, amount: int) -> dict[str, Any]:
    return {"Update": {"TableName": TABLE, "Key": _key(pk, sk), "UpdateExpression": "SET balance = balance - :a",
                       "ConditionExpression": "balance >= :a", "ExpressionAttributeValues": {":a": {"N": str(amount)}}}}


SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "all succeed": [_put("B", "1", note="new"), _debit("A", "1", 3),
                    {"Delete": {"TableName": TABLE, "Key": _key("A", "2")}}],
    "a later condition fails": [_put("B", "1", note="new"), _debit("A", "1", 3), _debit("A", "2", 50),
                                {"Delete": {"TableName": TABLE, "Key": _key("A", "1")}}],
    "a failed check returns the old item": [
        _debit("A", "1", 1),
        {"ConditionCheck": {"TableName": TABLE, "Key": _key("A", "2"), "ConditionExpression": "balance > :z",
                            "ExpressionAttributeValues": {":z": {"N": "100"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}],
    "an update that creates an item, then a failure": [
        {"Update": {"TableName": TABLE, "Key": _key("C", "1"), "UpdateExpression": "SET n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": TABLE, "Item": _put("A", "1")["Put"]["Item"],
                 "ConditionExpression": "attribute_not_exists(PK)"}}],
    "an in-place update, then a failure": [
        {"Update": {"TableName": TABLE, "Key": _key("A", "1"),
                    "UpdateExpression": "SET note = :n, balance = balance + :one REMOVE missing",
                    "ExpressionAttributeValues": {":n": {"S": "changed"}, ":one": {"N": "1"}}}},
        _debit("A", "2", 6)],
    "two operations on one item": [_debit("A", "1", 1), _put("B", "1"), _debit("A", "1", 2)],
    "an invalid update expression after a write": [
        _put("B", "1", note="new"),
        {"Update": {"TableName": TABLE, "Key": _key("A", "1"), "UpdateExpression": "SET balance = :x + :y",
                    "ExpressionAttributeValues": {":x": {"S": "text"}, ":y": {"N": "1"}}}}],
    "an unknown table after a write": [
        _put("B", "1"), {"Put": {"TableName": "no-such-table", "Item": _put("Z", "1")["Put"]["Item"]}}],
}


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield _table()


def _observe(client: Any) -> dict[str, Any]:
    """The table's items and its stream (read from moto's shard: moto's in-process DynamoDB Streams API
    answers 'Not yet implemented')."""
    rows = client.scan(TableName=TABLE)["Items"]
    shard = dynamodb_backends[ACCOUNT_ID]["us-east-1"].tables[TABLE].stream_shard
    stream = [(r["eventName"], r["dynamodb"]["Keys"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage"))
              for r in (record.to_json() for record in shard.items)]
    return {"rows": sorted(rows, key=lambda r: (r["PK"]["S"], r["SK"]["S"])), "stream": stream}


def _outcome(client: Any, items: list[dict[str, Any]], journalled: bool) -> dict[str, Any]:
    """What a client can observe after the transaction on a seeded table: its answer, the table, the stream."""
    (moto_transactions.install if journalled else moto_transactions.uninstall)()
    try:
        _seed(client)
        try:
            client.transact_write_items(TransactItems=items)
            answer: dict[str, Any] = {"ok": True}
        except ClientError as exc:
            answer = {"code": exc.response["Error"]["Code"],
                      "reasons": exc.response.get("CancellationReasons")}
        return {"answer": answer, **_observe(client)}
    finally:
        moto_transactions.uninstall()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_journalled_transactions_behave_as_motos_own(name: str) -> None:
    """Given a fresh table seeded with two items, when the same transaction runs on moto's own implementation
    and on the journalled one, then the answer (cancellation reasons included), the table and its stream are
    the same."""
    with mock_aws():
        expected = _run_in_fresh_table(SCENARIOS[name], journalled=False)
    with mock_aws():
        actual = _run_in_fresh_table(SCENARIOS[name], journalled=True)
    assert actual == expected


def _table() -> Any:
    """A table with a stream in the current moto account; its low-level client."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return dynamodb


def _run_in_fresh_table(items: list[dict[str, Any]], journalled: bool) -> dict[str, Any]:
    return _outcome(_table(), items, journalled)


def test_a_cancelled_transaction_leaves_nothing(client: Any) -> None:
    """Given seeded items, when a transaction that writes three items is cancelled by its last condition, then
    the table and its stream are exactly as before (checked directly, not only against moto's own)."""
    _seed(client)
    before = _observe(client)
    cancelled = [_put("B", "1", note="new"), _debit("A", "1", 3), _debit("A", "2", 50)]
    moto_transactions.install()
    try:
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(TransactItems=cancelled)
    finally:
        moto_transactions.uninstall()
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == \
        ["None", "None", "ConditionalCheckFailed"]
    assert _observe(client) == before
    assert len(before["stream"]) == 2 and len(before["rows"]) == 2


def test_a_transaction_costs_the_items_it_touches_not_the_table(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a table of 2,000 items, when a transaction of two items commits and another is cancelled, then
    the journal copied at most the two items each touched, never a table."""
    for n in range(2000):
        client.put_item(TableName=TABLE, Item=_put("BULK", f"{n:05d}", balance=n)["Put"]["Item"])
    _seed(client)
    copied: list[type] = []
    real_deepcopy = moto_transactions.copy.deepcopy

    def counting(value: Any, *args: Any) -> Any:
        copied.append(type(value))
        return real_deepcopy(value, *args)

    monkeypatch.setattr(moto_transactions.copy, "deepcopy", counting)
    moto_transactions.install()
    try:
        client.transact_write_items(TransactItems=[_debit("A", "1", 1), _debit("BULK", "00007", 1)])
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[_debit("A", "1", 1), _debit("A", "2", 500)])
    finally:
        moto_transactions.uninstall()
    names = {t.__name__ for t in copied}
    assert "Table" not in names and "Item" in names, names
    assert client.get_item(TableName=TABLE, Key=_key("A", "1"))["Item"]["balance"] == {"N": "9"}
    assert client.get_item(TableName=TABLE, Key=_key("BULK", "00007"))["Item"]["balance"] == {"N": "6"}
