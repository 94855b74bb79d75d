"""The local stack's direct JSON for DynamoDB answers (local/moto_responses.py) against moto's own serializer:
every answer of a workload that uses every attribute type and every listed operation is written both ways,
and the two must be the same JSON; what the direct path declines (binary values) goes through the serializer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.responses import ActionResult

from local import moto_responses, template

TABLE = "responses-test"


@pytest.fixture
def answers() -> Iterator[list[tuple[str, str | None, Any]]]:
    """(operation, direct body or None, the serializer's body) of every DynamoDB answer moto gives."""
    seen: list[tuple[str, str | None, Any]] = []  # DynamoDB's results are ActionResult or its DynamoResult
    original = ActionResult.execute_result

    def both(self: Any, context: Any) -> Any:
        status, headers, body = original(self, context)
        operation = context.operation_model
        seen.append((f"{operation.service_model.service_name}.{operation.name}",
                     moto_responses.fast_body(operation, self.result),
                     (status, dict(headers), body)))  # a copy: moto adds its own headers to it later
        return status, headers, body

    ActionResult.execute_result = both  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        ActionResult.execute_result = original  # type: ignore[method-assign]


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=TABLE, **template.table_definition(),
                              StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        yield dynamodb


def _item(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}, "GSI1PK": {"S": "LIST"}, "GSI1SK": {"S": f"{pk}#{sk}"},
            "name": {"S": "Jack"}, "balance": {"N": "12.50"}, "active": {"BOOL": True}, "gone": {"NULL": True},
            "tags": {"SS": ["a", "b"]}, "codes": {"NS": ["1", "2.5"]}, "history": {"L": [{"N": "1"}, {"S": "x"}]},
            "address": {"M": {"city": {"S": "Austin"}, "zip": {"N": "78701"}, "lines": {"L": []}}}, **extra}


def _stream_records(client: Any) -> None:
    """GetRecords from the start of the table's stream, as the stack's relay reads it: in process, moto's
    dynamodbstreams HTTP API answers 404 (its server, the stack's, answers it), so the backend is read and its
    result written as moto's GetRecords handler writes it (an ActionResult, which the fixture sees)."""
    from moto.core.responses import ActionContext
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    streams = dynamodbstreams_backends["123456789012"]["us-east-1"]
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(arn)["Shards"][0]["ShardId"]
    result = streams.get_records(streams.get_shard_iterator(arn, shard, "TRIM_HORIZON").arn, 1000)
    assert result["Records"]
    service = get_service_model("dynamodbstreams")
    operation = service.operation_model("GetRecords")
    context = ActionContext(service, operation, get_serializer_class("dynamodbstreams", "json"), None)  # type: ignore[arg-type]
    ActionResult(result).execute_result(context)


def _workload(client: Any) -> None:
    key = {"PK": {"S": "U#1"}, "SK": {"S": "USER"}}
    client.put_item(TableName=TABLE, Item=_item("U#1", "USER"))
    client.put_item(TableName=TABLE, Item=_item("U#1", "USER"), ReturnValues="ALL_OLD",
                    ReturnConsumedCapacity="TOTAL")
    for n in range(5):
        client.put_item(TableName=TABLE, Item=_item("U#2", f"A#{n}"))
    client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    client.get_item(TableName=TABLE, Key=key, ProjectionExpression="#n, address.city",
                    ExpressionAttributeNames={"#n": "name"}, ReturnConsumedCapacity="INDEXES")
    client.get_item(TableName=TABLE, Key={"PK": {"S": "none"}, "SK": {"S": "none"}})
    client.batch_get_item(RequestItems={TABLE: {"Keys": [key, {"PK": {"S": "U#2"}, "SK": {"S": "A#1"}},
                                                         {"PK": {"S": "none"}, "SK": {"S": "none"}}]}})
    page = client.query(TableName=TABLE, KeyConditionExpression="PK = :p", ExpressionAttributeValues={
        ":p": {"S": "U#2"}}, Limit=2)
    client.query(TableName=TABLE, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "U#2"}},
                 ExclusiveStartKey=page["LastEvaluatedKey"], Select="COUNT")
    client.query(TableName=TABLE, IndexName="GSI1", KeyConditionExpression="GSI1PK = :p",
                 ExpressionAttributeValues={":p": {"S": "LIST"}}, ScanIndexForward=False,
                 ReturnConsumedCapacity="INDEXES")
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET balance = balance + :one ADD tags :t",
                       ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"SS": ["c"]}}, ReturnValues="ALL_NEW")
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE gone", ReturnValues="UPDATED_OLD")
    with pytest.raises(ClientError):
        client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET balance = :z",
                           ConditionExpression="balance > :big", ReturnValuesOnConditionCheckFailure="ALL_OLD",
                           ExpressionAttributeValues={":z": {"N": "0"}, ":big": {"N": "1000"}})
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": _item("U#3", "USER"), "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"TableName": TABLE, "Key": key, "UpdateExpression": "SET balance = balance - :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}], ReturnConsumedCapacity="TOTAL")
    client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key}},
                                             {"Get": {"TableName": TABLE, "Key": {"PK": {"S": "U#3"},
                                                                                  "SK": {"S": "USER"}}}}])
    client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": _item("U#4", "USER")}},
                                                  {"DeleteRequest": {"Key": {"PK": {"S": "U#3"}, "SK": {"S": "USER"}}}}]})
    client.scan(TableName=TABLE, Limit=3)
    client.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
    _stream_records(client)  # inserts, modifies and removes, old and new images
    client.put_item(TableName=TABLE, Item=_item("U#5", "USER", photo={"B": b"\x00\xffpng"},
                                                  thumbs={"BS": [b"\x01", b"\x02"]}))
    client.get_item(TableName=TABLE, Key={"PK": {"S": "U#5"}, "SK": {"S": "USER"}})
    _stream_records(client)  # now with the binary item's record


def test_direct_answers_are_the_serializers_json(client: Any, answers: list[tuple[str, str | None, Any]]):
    """Given a workload over every attribute type and every listed operation (the table's stream read too), when
    each answer is written both ways, then every direct body is the same JSON as the serializer's (status 200,
    its content type), the direct path answered every listed operation, and an item with binary values (and
    the stream read that holds its record) was left to the serializer."""
    _workload(client)
    direct = [(name, body, serialized) for name, body, serialized in answers if body is not None]
    for name, body, (status, headers, serialized_body) in direct:
        assert status == 200 and headers == {"Content-Type": "application/x-amz-json-1.0"}, (name, headers)
        assert json.loads(body) == json.loads(serialized_body), name
    assert {name for name, _, _ in direct} == {f"{service}.{name}" for service, name in moto_responses.FAST_OPERATIONS}
    declined = [name for name, body, _ in answers if body is None and "Describe" not in name
                and "GetShardIterator" not in name]
    assert declined == ["dynamodb.GetItem", "dynamodbstreams.GetRecords"]  # the item with binary values, its record


def test_the_installed_fast_path_answers_as_moto_did(client: Any):
    """Given the fast path installed, when the workload runs, then the client reads the same items as without
    it (boto3 parses both, binary values included)."""
    key = {"PK": {"S": "U#1"}, "SK": {"S": "USER"}}
    client.put_item(TableName=TABLE, Item=_item("U#1", "USER", photo={"B": b"\x00\xff"}))
    client.put_item(TableName=TABLE, Item=_item("U#2", "USER"))
    without = [client.get_item(TableName=TABLE, Key=key)["Item"],
               client.get_item(TableName=TABLE, Key={"PK": {"S": "U#2"}, "SK": {"S": "USER"}})["Item"]]
    moto_responses.install()
    try:
        with_it = [client.get_item(TableName=TABLE, Key=key)["Item"],
                   client.get_item(TableName=TABLE, Key={"PK": {"S": "U#2"}, "SK": {"S": "USER"}})["Item"]]
    finally:
        moto_responses.uninstall()
    assert with_it == without
