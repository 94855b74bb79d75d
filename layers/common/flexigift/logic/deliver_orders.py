"""Email fulfilment: the worker on the delivery queue sends each order's email once, and the handler on
the dead-letter queue marks an order failed when its email could not be sent.

At most one email per delivery round: before sending, the worker moves the order from 'queued' to
'sending' with a conditional write (one winner among concurrent or repeated messages); after SES accepts
the email it marks the order 'delivered'. A message for a round that is already delivered is dropped. If
SES refuses, the order goes back to 'queued' and the message is retried (up to the queue's
maxReceiveCount, then the dead-letter queue). A worker that stops between sending and marking leaves the
order 'sending': it is never sent again automatically; the dead-letter handler marks it failed, saying
the outcome is unknown, and a person may resend it.

A message names the order's program, order and round (the relay built it from the order's outbox record),
so the worker reads the order by its program-scoped key. Messages arrive at least once (the relay may
send one twice after a retry): the 'sending' claim keeps that to one email per round.
"""

from __future__ import annotations

from typing import Any

from flexigift import vault
from flexigift.delivery.email import EmailNotSent, send_email
from flexigift.delivery.reward_email import render_reward_email
from flexigift.logic.reward_orders import public_order
from flexigift.models.rewards import DeliveryMessage, DeliveryMethod
from flexigift.observability import logger, mask_email, metrics, redact_emails
from flexigift.store import rewards as store
from flexigift.store.wallet import now_iso


class DeliveryDeferred(Exception):
    """This message cannot be completed now; leave it on the queue for a later try."""


def parse_message(body: str) -> DeliveryMessage:
    return DeliveryMessage.model_validate_json(body)


def _settled(order: dict[str, Any] | None, message: DeliveryMessage) -> str | None:
    """Why a message needs no work (None: it does)."""
    if order is None:
        return "unknown_order"
    if int(order.get("delivery_method", 0)) != DeliveryMethod.EMAIL:
        return "not_an_email_order"
    if int(order["delivery_round"]) > message.delivery_round:
        return "superseded"
    if order["delivery_status"] == "delivered":
        return "already_delivered"
    if order["delivery_status"] == "failed":
        return "already_failed"
    return None


def deliver(message: DeliveryMessage) -> str:
    """Send one order's email at most once; returns what happened. Raises DeliveryDeferred to retry."""
    program_id, order_id, delivery_round = message.program_id, message.order_id, message.delivery_round
    log = {"order_id": order_id, "delivery_round": delivery_round, "program_id": program_id}
    order = store.get_order(program_id, order_id)
    skipped = _settled(order, message)
    if skipped is None and not store.claim_delivery(program_id, order_id, delivery_round, now_iso()):
        order = store.get_order(program_id, order_id)
        skipped = _settled(order, message)
        if skipped is None:
            raise DeliveryDeferred("another try is sending this email, or stopped while sending it")
    if skipped is not None:
        logger.info("reward delivery skipped", extra={**log, "reason": skipped})
        if skipped == "already_delivered":
            metrics.add_metric(name="RewardEmailDuplicateSkipped", unit="Count", value=1)
        return skipped
    assert order is not None  # noqa: S101 - _settled returned None

    try:
        code, pin = vault.unseal(order_id, order["code_ciphertext"])
        email = render_reward_email(order, store.get_reward(int(order["reward_id"])), code, pin)
        message_id = send_email(order["delivery_email"], email.subject, email.text, email.html)
    except Exception as exc:  # nothing was sent: let a later try send it
        reason = str(exc) if isinstance(exc, EmailNotSent) else f"{type(exc).__name__} while preparing the email"
        store.release_claim(program_id, order_id, delivery_round, now_iso(), reason[:500])
        metrics.add_metric(name="EmailFailed", unit="Count", value=1)
        logger.warning("reward email not sent", extra={**log, "error": redact_emails(reason[:500])})
        raise DeliveryDeferred(reason) from None
    now = now_iso()
    shown = public_order({**order, "delivery_status": "delivered", "order_status": "complete", "delivered_at": now,
                          "updated_at": now, "failure_reason": None})
    if not store.mark_delivered(program_id, order_id, delivery_round, now, message_id,
                                event=(program_id, "reward_order.delivered", shown)):
        logger.error("reward email sent but the order could not be marked delivered", extra=log)
    metrics.add_metric(name="EmailSent", unit="Count", value=1)
    logger.info("reward email sent", extra={**log, "to": mask_email(order["delivery_email"]),
                                            "ses_message_id": message_id})
    return "sent"


def give_up(message: DeliveryMessage) -> str:
    """A message reached the dead-letter queue: mark its round failed with the reason."""
    order = store.get_order(message.program_id, message.order_id)
    skipped = _settled(order, message)
    if skipped is not None:
        logger.info("dead-lettered delivery needs nothing", extra={"order_id": message.order_id, "reason": skipped})
        return skipped
    assert order is not None  # noqa: S101 - _settled returned None
    attempts = int(order.get("attempts", 0))
    if order["delivery_status"] == "sending":
        reason = ("The email may or may not have been sent: delivery stopped while sending it. "
                  "Resend the order if the recipient did not get it")
    elif order.get("last_error"):
        reason = f"The email could not be sent after {attempts} attempt(s): {order['last_error']}"
    else:
        reason = "The email could not be delivered"
    now = now_iso()
    shown = public_order({**order, "delivery_status": "failed", "order_status": "failed", "failure_reason": reason,
                          "updated_at": now})
    if not store.mark_failed(message.program_id, message.order_id, message.delivery_round, reason, now,
                             event=(message.program_id, "reward_order.failed", shown)):
        return _settled(store.get_order(message.program_id, message.order_id), message) or "changed"
    metrics.add_metric(name="RewardEmailDeadLettered", unit="Count", value=1)
    logger.error("reward email failed for good", extra={"order_id": message.order_id,
                                                        "reason": redact_emails(reason)})
    return "marked_failed"
