"""The outbox relay: an outbox record that a transaction wrote (with the change that calls for it) becomes
the message it stands for. The table's stream brings each new record here (the event source mapping passes
only INSERTs of items of type OUTBOX); the relay only sends, it writes nothing to the table.

At least once: a relay that fails after sending is retried by the stream, and the message goes out again.
That is harmless for reward emails: the worker claims a round before sending it, so a second message of a
round sends nothing (the queue is a standard one, without deduplication). A record that can never be sent
(unknown kind, unreadable) is logged and skipped, so it cannot hold up the records behind it in its shard.
"""

from __future__ import annotations

from typing import Any

from flexigift.delivery.queue import enqueue_delivery
from flexigift.models.rewards import DeliveryMessage
from flexigift.observability import logger, metrics
from flexigift.shapes import ValidationError
from flexigift.store import keys

REWARD_EMAIL = "reward_email"
WEBHOOK_DELIVERY = "webhook_delivery"


def _relay_webhook_work(record: dict[str, Any]) -> str:
    """An event (every event is an outbox record of its own: type EVENT) goes to the webhooks queue to be fanned
    out to its program's endpoints; a retry asked for through the API (kind webhook_delivery) goes there as the
    one delivery it names."""
    from flexigift.delivery.queue import enqueue_webhook_messages

    program_id = str(record.get("program_id") or "")
    if record.get("type") == keys.EVENT_TYPE:
        message = {"kind": "event", "program_id": program_id, "event_id": str(record.get("id")),
                   "event_type": str(record.get("event_type"))}
    else:
        message = {"kind": "delivery", "program_id": program_id, "endpoint_id": str(record.get("endpoint_id")),
                   "event_id": str(record.get("event_id"))}
    enqueue_webhook_messages([message])
    metrics.add_metric(name="OutboxRelayed", unit="Count", value=1)
    logger.info("webhook work queued", extra={"kind": message["kind"], "program_id": program_id,
                                             "event_id": message["event_id"]})
    return "queued"


def relay(record: dict[str, Any]) -> str:
    """Send what one outbox record asks for; returns what happened. An SQS error propagates (the record is
    then reported failed and the stream retries it)."""
    if record.get("type") == keys.EVENT_TYPE or (record.get("type") == keys.OUTBOX_TYPE
                                                 and record.get("kind") == WEBHOOK_DELIVERY):
        return _relay_webhook_work(record)
    if record.get("type") != keys.OUTBOX_TYPE or record.get("kind") != REWARD_EMAIL:
        logger.error("outbox record of an unknown kind skipped", extra={"kind": str(record.get("kind"))[:50],
                                                                        "type": str(record.get("type"))[:50]})
        metrics.add_metric(name="OutboxRecordUnknown", unit="Count", value=1)
        return "unknown_kind"
    try:
        message = DeliveryMessage.model_validate({"program_id": record.get("program_id"),
                                                  "order_id": record.get("order_id"),
                                                  "delivery_round": int(record.get("delivery_round") or 0)})
    except (ValidationError, TypeError, ValueError):
        logger.error("unreadable outbox record skipped", extra={"order_id": str(record.get("order_id"))[:50]})
        metrics.add_metric(name="OutboxRecordUnreadable", unit="Count", value=1)
        return "unreadable"
    message_id = enqueue_delivery(message)
    metrics.add_metric(name="OutboxRelayed", unit="Count", value=1)
    logger.info("reward email queued", extra={"order_id": message.order_id, "program_id": message.program_id,
                                              "delivery_round": message.delivery_round,
                                              "sqs_message_id": message_id})
    return "queued"
