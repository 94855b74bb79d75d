"""The in-process AWS of the bench: moto (as the integration tests use it), the table from template.yaml,
the rewards' bucket, queues, KMS key and verified sender, and every function's environment."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local import template

ROOT = template.ROOT
for _path in (ROOT / "functions", ROOT / "layers" / "common"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "flexigift-bench"
QUEUE = "flexigift-bench-rewards-delivery"
DLQ = "flexigift-bench-rewards-delivery-dlq"
WEBHOOKS_QUEUE = "flexigift-bench-webhook-deliveries"
PHYSICAL = {
    "Table": TABLE,
    "CatalogFeedBucket": "flexigift-bench-catalog-feed",
    "RewardsDeliveryQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE}",
    "RewardsDeliveryQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
    "RewardsDeliveryDLQ": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{DLQ}",
    "RewardsDeliveryDLQ.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{DLQ}",
    "RewardCodesKeyAlias": "alias/flexigift-bench-reward-codes",
    "WebhookDeliveriesQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{WEBHOOKS_QUEUE}",
    "WebhookDeliveriesQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{WEBHOOKS_QUEUE}",
    "WebhookSecretsKeyAlias": "alias/flexigift-bench-webhook-secrets",
}
BASE_ENVIRONMENT = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                    "POWERTOOLS_DEV": "false", "POWERTOOLS_LOG_LEVEL": "ERROR"}


def function_environment(fn: template.Function) -> dict[str, str]:
    """One function's environment as template.yaml gives it, with the bench's physical names."""
    env = dict(BASE_ENVIRONMENT)
    for name, value in fn.environment.items():
        resolved = template.resolve(value, PHYSICAL, {"StageName": "bench"})
        env[name] = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
    env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    return env


def all_functions_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for fn in template.functions().values():
        env.update(function_environment(fn))
    return env


@dataclass
class CallCounter:
    """DynamoDB API calls by operation name, counted through botocore's before-call events (from any thread:
    a sharded listing's Queries run side by side)."""

    counts: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1

    def take(self) -> Counter:
        with self._lock:
            taken, self.counts = self.counts, Counter()
        return taken


@dataclass
class CallClock:
    """Seconds during which at least one of the application's DynamoDB calls was under way, from botocore
    building the request to the parsed answer (with moto in process, moto's own work is inside), so that a
    figure can tell the application's own time from the client's and the backend's. Calls made side by side
    (a sharded listing's Queries) count once for the time they overlap: the wall time they took."""

    seconds: float = 0.0
    _in_flight: int = 0
    _since: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, **_: Any) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._since = time.perf_counter()
            self._in_flight += 1

    def after(self, **_: Any) -> None:
        with self._lock:
            if self._in_flight == 0:
                return
            self._in_flight -= 1
            if self._in_flight == 0:
                self.seconds += time.perf_counter() - self._since

    def take(self) -> float:
        with self._lock:
            taken, self.seconds = self.seconds, 0.0
        return taken


@dataclass
class MotoAws:
    dynamodb: Any          # a raw client of the bench (not the application's)
    s3: Any
    counter: CallCounter
    clock: CallClock

    def upload_feed(self, body: bytes) -> None:
        from flexigift.settings import get_settings

        self.s3.put_object(Bucket=PHYSICAL["CatalogFeedBucket"], Key=get_settings().catalog_feed_key, Body=body)


@contextmanager
def moto_aws() -> Iterator[MotoAws]:
    """A fresh moto account holding the template's table and the rewards' resources; the application's
    DynamoDB client (flexigift.aws.dynamodb()) counts its calls into `counter`."""
    import boto3
    from moto import mock_aws

    from flexigift.aws import dynamodb, reset_clients

    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(all_functions_environment())
    reset_clients()
    try:
        with mock_aws():
            raw = boto3.client("dynamodb", region_name=REGION)
            raw.create_table(TableName=TABLE, **template.table_definition())
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=PHYSICAL["CatalogFeedBucket"])
            sqs = boto3.client("sqs", region_name=REGION)
            dlq = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.create_queue(QueueName=QUEUE, Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})
            sqs.create_queue(QueueName=WEBHOOKS_QUEUE)
            kms = boto3.client("kms", region_name=REGION)
            for alias, purpose in (("RewardCodesKeyAlias", "reward codes"), ("WebhookSecretsKeyAlias", "webhook secrets")):
                key_id = kms.create_key(Description=f"{purpose} (bench)")["KeyMetadata"]["KeyId"]
                kms.create_alias(AliasName=PHYSICAL[alias], TargetKeyId=key_id)
            sender = str(template.load()["Parameters"]["RewardsSenderEmail"]["Default"])
            boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=sender)
            counter, clock = CallCounter(), CallClock()
            events = dynamodb().meta.events
            events.register("before-call.dynamodb.*", counter)
            events.register("before-parameter-build.dynamodb.*", clock.before)
            events.register("after-call.dynamodb.*", clock.after)
            yield MotoAws(dynamodb=raw, s3=s3, counter=counter, clock=clock)
    finally:
        reset_clients()
        os.environ.clear()
        os.environ.update(saved)
