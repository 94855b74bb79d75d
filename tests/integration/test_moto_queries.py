"""local/moto_queries.py answers every Query exactly as moto's own does (same items, order, pages, counts),
from the partition's items instead of the whole sorted table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import moto_queries

TABLE = "queries"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G", "GS")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}, {"AttributeName": "GS", "KeyType": "RANGE"}]},
                {"IndexName": "GSI2", "Projection": {"ProjectionType": "KEYS_ONLY"},
                 "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}]}],
            LocalSecondaryIndexes=[
                {"IndexName": "LSI1", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "GS", "KeyType": "RANGE"}]}])
        for p in range(6):
            for s in range(12):
                item = {"PK": {"S": f"P{p}"}, "SK": {"S": f"S{s:02d}"}, "n": {"N": str(s)}}
                if s % 3:
                    item |= {"G": {"S": f"G{(p + s) % 4}"}, "GS": {"S": f"{(s * 7) % 12:02d}"}}
                dynamodb.put_item(TableName=TABLE, Item=item)
        yield dynamodb
    moto_queries.uninstall()


QUERIES: dict[str, dict[str, Any]] = {
    "table partition": {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "P2"}}},
    "table range, descending, limited": {
        "KeyConditionExpression": "PK = :p AND SK BETWEEN :a AND :b", "ScanIndexForward": False, "Limit": 3,
        "ExpressionAttributeValues": {":p": {"S": "P1"}, ":a": {"S": "S02"}, ":b": {"S": "S09"}}},
    "table with a filter": {"KeyConditionExpression": "PK = :p", "FilterExpression": "n > :n",
                            "ExpressionAttributeValues": {":p": {"S": "P3"}, ":n": {"N": "5"}}},
    "missing partition": {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
    "global index": {"IndexName": "GSI1", "KeyConditionExpression": "G = :g",
                     "ExpressionAttributeValues": {":g": {"S": "G1"}}},
    "global index range, paged": {"IndexName": "GSI1", "KeyConditionExpression": "G = :g AND begins_with(GS, :x)",
                                  "Limit": 2, "ExpressionAttributeValues": {":g": {"S": "G2"}, ":x": {"S": "0"}}},
    "global index without range key": {"IndexName": "GSI2", "KeyConditionExpression": "G = :g",
                                       "ExpressionAttributeValues": {":g": {"S": "G3"}}},
    "local index": {"IndexName": "LSI1", "KeyConditionExpression": "PK = :p AND GS > :x",
                    "ExpressionAttributeValues": {":p": {"S": "P4"}, ":x": {"S": "03"}}},
}


def _all_pages(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    pages, start = [], None
    while True:
        answer = client.query(TableName=TABLE, **query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append({"Items": answer["Items"], "Count": answer["Count"], "ScannedCount": answer["ScannedCount"],
                      "LastEvaluatedKey": answer.get("LastEvaluatedKey")})
        start = answer.get("LastEvaluatedKey")
        if not start:
            return pages


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_same_answers_as_motos_own(client: Any, name: str):
    moto_queries.uninstall()
    expected = _all_pages(client, QUERIES[name])
    moto_queries.install()
    moto_queries.bump()
    assert _all_pages(client, QUERIES[name]) == expected
    assert any(page["Items"] for page in expected) or name == "missing partition"


def test_an_index_map_follows_the_writes_it_is_told_of(client: Any):
    moto_queries.install()
    moto_queries.bump()
    query = QUERIES["global index"]
    before = _all_pages(client, query)
    client.put_item(TableName=TABLE, Item={"PK": {"S": "new"}, "SK": {"S": "x"}, "G": {"S": "G1"}, "GS": {"S": "99"}})
    moto_queries.bump()  # the local server calls this for every request that changes state
    after = _all_pages(client, query)
    assert sum(p["Count"] for p in after) == sum(p["Count"] for p in before) + 1


def test_a_query_reads_the_partition_not_the_sorted_table(client: Any, monkeypatch: pytest.MonkeyPatch):
    from moto.dynamodb.models.table import Table

    moto_queries.install()
    moto_queries.bump()
    monkeypatch.setattr(Table, "all_items", lambda self: pytest.fail("the whole table was sorted"))
    assert _all_pages(client, QUERIES["table partition"])[0]["Count"] == 12
    assert _all_pages(client, QUERIES["local index"])[0]["Count"] > 0
