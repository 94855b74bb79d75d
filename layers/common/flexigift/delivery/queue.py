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
