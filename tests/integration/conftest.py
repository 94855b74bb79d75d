"""Integration tests: the handlers, called with the events in events/, against moto (in process).
The table is created from template.yaml's definition; no Scan may happen in any request path."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from flexigift.aws import reset_clients
from local import template

TABLE = "flexigift-test"


def _environment() -> dict[str, str]:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_DEV": "false", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    physical = {"Table": TABLE, **REWARDS_PHYSICAL, **WEBHOOKS_PHYSICAL}  # the sections below name their resources
    for fn in template.functions().values():
        for name, value in fn.environment.items():
            env[name] = str(template.resolve(value, physical))
    return env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh moto account with the single table; yields a low-level DynamoDB client."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in _environment().items():
        monkeypatch.setenv(name, value)
    reset_clients()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **template.table_definition())
        operations: list[str] = []
        from flexigift.aws import dynamodb

        dynamodb().meta.events.register("before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
        client.operations = operations  # type: ignore[attr-defined]
        yield client
        assert "Scan" not in operations, "a request path used Scan"
    reset_clients()


def stored(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    from flexigift.store.table import from_attr

    item = client.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True).get("Item")
    return from_attr(item) if item else None


def all_items(client: Any) -> list[dict[str, Any]]:
    """Every item (tests only: a Scan to prove nothing was half-written)."""
    from flexigift.store.table import from_attr

    items, start = [], None
    while True:
        page = client.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
        items += [from_attr(i) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


# --- rewards ---------------------------------------------------------------------------------------------
# The Giftcard Rewards also need S3 (the catalog feed), SQS (deliveries and their dead-letter queue), KMS
# (reward codes) and SES (a verified sender). `rewards` creates them in the same moto account as `aws`.

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
REWARDS_QUEUE = "flexigift-test-rewards-delivery"
REWARDS_DLQ = "flexigift-test-rewards-delivery-dlq"
REWARDS_PHYSICAL = {
    "CatalogFeedBucket": "flexigift-test-catalog-feed",
    "RewardsDeliveryQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{REWARDS_QUEUE}",
    "RewardsDeliveryQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{REWARDS_QUEUE}",
    "RewardsDeliveryDLQ": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{REWARDS_DLQ}",
    "RewardsDeliveryDLQ.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{REWARDS_DLQ}",
    "RewardCodesKeyAlias": "alias/flexigift-test-reward-codes",
}
SAMPLE_FEED = Path(__file__).resolve().parents[2] / "feeds" / "catalog.json"


class RewardsAws:
    """Clients and names of the rewards' AWS resources in the moto account of one test."""

    def __init__(self, dynamodb: Any) -> None:
        from flexigift.settings import get_settings

        self.dynamodb = dynamodb
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.kms = boto3.client("kms", region_name=REGION)
        self.sesv2 = boto3.client("sesv2", region_name=REGION)
        self.bucket = REWARDS_PHYSICAL["CatalogFeedBucket"]
        self.feed_key = get_settings().catalog_feed_key
        self.queue_url = REWARDS_PHYSICAL["RewardsDeliveryQueue"]
        self.dlq_url = REWARDS_PHYSICAL["RewardsDeliveryDLQ"]
        self.sender = str(template.load()["Parameters"]["RewardsSenderEmail"]["Default"])

    def upload_feed(self, body: bytes | str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.feed_key, Body=body)

    def sent_emails(self) -> list[Any]:
        """What SES accepted (moto keeps every message it was asked to send)."""
        from moto.ses.models import ses_backends

        return list(ses_backends[ACCOUNT][REGION].sent_messages)

    def receive(self, queue_url: str, wait: int = 0) -> list[dict[str, Any]]:
        return self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                        AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])


@pytest.fixture
def rewards(aws: Any) -> Iterator[RewardsAws]:
    """Given the rewards' bucket (holding the sample feed), queues, KMS key and verified sender."""
    env = RewardsAws(aws)
    env.s3.create_bucket(Bucket=env.bucket)
    env.upload_feed(SAMPLE_FEED.read_bytes())
    dlq = env.sqs.create_queue(QueueName=REWARDS_DLQ)["QueueUrl"]
    dlq_arn = env.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    env.sqs.create_queue(QueueName=REWARDS_QUEUE, Attributes={
        "VisibilityTimeout": "0",  # a failed message is visible again at once: tests need not wait
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})
    key_id = env.kms.create_key(Description="reward codes (test)")["KeyMetadata"]["KeyId"]
    env.kms.create_alias(AliasName=REWARDS_PHYSICAL["RewardCodesKeyAlias"], TargetKeyId=key_id)
    env.sesv2.create_email_identity(EmailIdentity=env.sender)
    env.sqs.create_queue(QueueName=WEBHOOKS_QUEUE)  # the relay also queues events (for webhooks) from the stream
    yield env


# --- webhooks --------------------------------------------------------------------------------------------
# The webhooks queue and the KMS key of endpoints' secrets; `webhooks` creates them in the same moto account as
# `aws`, and lets endpoints be on 127.0.0.1 (as the local stack does) with the retry schedule compressed.

WEBHOOKS_QUEUE = "flexigift-test-webhook-deliveries"
WEBHOOKS_PHYSICAL = {
    "WebhookDeliveriesQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{WEBHOOKS_QUEUE}",
    "WebhookDeliveriesQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{WEBHOOKS_QUEUE}",
    "WebhookSecretsKeyAlias": "alias/flexigift-test-webhook-secrets",
}


class WebhooksAws:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.kms = boto3.client("kms", region_name=REGION)
        self.queue_url = WEBHOOKS_PHYSICAL["WebhookDeliveriesQueue"]

    def receive(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                        AttributeNames=["All"]).get("Messages", [])


@pytest.fixture
def webhooks(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhooksAws]:
    """Given the webhooks queue and secrets key; endpoints may be http://127.0.0.1 and retries come in seconds."""
    monkeypatch.setenv("FLEXIGIFT_WEBHOOK_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("FLEXIGIFT_WEBHOOK_RETRY_SCALE", str(1 / 60))
    from flexigift.settings import get_settings

    get_settings.cache_clear()
    env = WebhooksAws()
    env.sqs.create_queue(QueueName=WEBHOOKS_QUEUE)
    env.sqs.set_queue_attributes(QueueUrl=env.queue_url, Attributes={"VisibilityTimeout": "0"})
    key_id = env.kms.create_key(Description="webhook secrets (test)")["KeyMetadata"]["KeyId"]
    env.kms.create_alias(AliasName=WEBHOOKS_PHYSICAL["WebhookSecretsKeyAlias"], TargetKeyId=key_id)
    yield env
    get_settings.cache_clear()


def insert_records(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stream INSERT records (NEW_IMAGE) of items, in the given order, as the event source mapping delivers them."""
    from boto3.dynamodb.types import TypeSerializer

    return [{"eventID": uuid.uuid4().hex, "eventName": "INSERT", "eventSource": "aws:dynamodb",
             "dynamodb": {"Keys": {"PK": {"S": i["PK"]}, "SK": {"S": i["SK"]}},
                          "NewImage": {k: TypeSerializer().serialize(v) for k, v in i.items()},
                          "SequenceNumber": str(n + 1), "StreamViewType": "NEW_IMAGE"}}
            for n, i in enumerate(items)]


def unlisted_events() -> list[dict[str, Any]]:
    """The events no chunk of their program's listing holds yet, oldest first (the stream's order, near enough:
    a Scan with a client of the test's own, tests only)."""
    from flexigift.store.table import from_attr

    client = boto3.client("dynamodb", region_name="us-east-1")
    items = [from_attr(i) for page in client.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]]
    listed = {i for item in items if item.get("type") == "EVENT_CHUNK" and "event_type" not in item
              for i in item["events"]}
    fresh = [i for i in items if i.get("type") == "EVENT" and i["id"] not in listed]
    return sorted(fresh, key=lambda i: (i["created_at"], i["id"]))
