"""The delivery queue: a message names an order and a delivery round. Never the code."""

from __future__ import annotations

from flexigift.aws import client
from flexigift.models.rewards import DeliveryMessage
from flexigift.settings import get_settings


def enqueue_delivery(order_id: str, delivery_round: int) -> str:
    """Queue an email order's delivery; returns the SQS message id."""
    body = DeliveryMessage(order_id=order_id, delivery_round=delivery_round).model_dump_json()
    response = client("sqs").send_message(QueueUrl=get_settings().rewards_queue_url, MessageBody=body)
    return str(response["MessageId"])
