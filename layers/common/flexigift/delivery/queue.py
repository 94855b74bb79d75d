"""The delivery queue: a message names a program, an order and a delivery round. Never the code."""

from __future__ import annotations

from flexigift.aws import client
from flexigift.models.rewards import DeliveryMessage
from flexigift.settings import get_settings


def enqueue_delivery(message: DeliveryMessage) -> str:
    """Queue one delivery round of an email order; returns the SQS message id. Only the outbox relay calls
    this: a request records what to send in its transaction and never calls SQS itself."""
    response = client("sqs").send_message(QueueUrl=get_settings().rewards_queue_url,
                                          MessageBody=message.model_dump_json())
    return str(response["MessageId"])


def enqueue_webhook_messages(messages: list[dict]) -> int:
    """Queue webhook work (`{"kind": "event", ...}` to fan out, `{"kind": "delivery", ...}` to deliver), ten per
    SendMessageBatch; any entry SQS refuses raises, so the caller's record is retried (at least once)."""
    import json

    sqs = client("sqs")
    url = get_settings().webhooks_queue_url
    for start in range(0, len(messages), 10):
        chunk = messages[start:start + 10]
        response = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"))} for i, m in enumerate(chunk)])
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} webhook message(s)")
    return len(messages)
