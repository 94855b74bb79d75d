"""Webhook delivery: the worker behind the webhooks queue (DeliverWebhooksFunction).

Two kinds of messages come in. `event` (queued by the outbox relay for each new event): find the program's
endpoints subscribed to its type and queue one `delivery` message per endpoint, so that every endpoint has its
own message, its own retries and its own delays, and a dead endpoint never holds up another. `delivery`: make
the next attempt at POSTing the event to the endpoint when it is due, signed with the endpoint's secret.

A failed attempt (no 2xx within 10 s, or a URL that no longer resolves to a public address) is tried again after
an exponential backoff with jitter (30 s, 1 min, 2 min ... capped at 1 h, each x 0.5-1.0), for at least 24 hours
from the first attempt; then the delivery is `failed` and kept, with every attempt in its log. The message
itself carries the schedule: the worker sets its visibility timeout to the delay and reports it failed, so SQS
gives it back when the next attempt is due. The local stack compresses the schedule with
settings.webhook_retry_scale (1/60: a minute becomes a second).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from flexigift import vault
from flexigift.delivery import webhook_http
from flexigift.delivery.queue import enqueue_webhook_messages
from flexigift.models.events import ALL_EVENTS
from flexigift.observability import logger, metrics
from flexigift.settings import get_settings
from flexigift.store import webhooks as store
from flexigift.store.table import Transaction, TransactionCancelled
from flexigift.store.wallet import now_iso
from flexigift.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

BASE_DELAY = 30.0
MAX_DELAY = 3600.0
RETRY_WINDOW = 24 * 3600.0
LEASE_SECONDS = 30           # an attempt's claim: longer than an attempt can take (10 s + the bookkeeping)
BUSY_RECHECK_SECONDS = 5     # another copy of the message holds the attempt: look again this much later


@dataclass(frozen=True)
class Result:
    """What to do with the message: done (delete it), or give it back after `later` seconds."""

    outcome: str
    later: int | None = None


def backoff(attempt: int, scale: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential, capped, with jitter."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0) * scale  # noqa: S311  # nosec B311  # jitter, not a secret


def _seconds(delay: float) -> int:
    return max(1, math.ceil(delay))


def fan_out(program_id: str, event_id: str, event_type: str) -> Result:
    """One delivery message per endpoint of the program subscribed to the event's type."""
    subscribed = [e for e in store.list_endpoints(program_id)
                  if ALL_EVENTS in e["events"] or event_type in e["events"]]
    enqueue_webhook_messages([{"kind": "delivery", "program_id": program_id, "endpoint_id": str(e["id"]),
                               "event_id": event_id} for e in subscribed])
    metrics.add_metric(name="WebhookDeliveriesQueued", unit="Count", value=len(subscribed))
    return Result("fanned_out")


def deliver(program_id: str, endpoint_id: str, event_id: str) -> Result:
    """Make the next attempt of one delivery if it is due; say when to look again."""
    settings = get_settings()
    endpoint, delivery, event = store.delivery_inputs(program_id, endpoint_id, event_id)
    if endpoint is None:
        return Result("endpoint_deleted")
    now = time.time()
    if delivery is not None and delivery.get("status") in (store.SUCCEEDED, store.FAILED):
        return Result(f"already_{delivery['status']}")
    if event is None or int(event.get("expires_at", 0)) < now:
        store.mark_failed(program_id, endpoint_id, event_id, "the event expired (kept 30 days)", now_iso())
        return Result("event_expired")
    if delivery is not None and int(delivery.get("next_attempt_epoch", 0)) > now:
        return Result("not_due", _seconds(int(delivery["next_attempt_epoch"]) - now))
    previous = int(delivery.get("attempts", 0)) if delivery else 0
    if not store.claim_attempt(program_id, endpoint_id, event_id, str(event["event_type"]), previous, now,
                               now + LEASE_SECONDS):
        return Result("busy", BUSY_RECHECK_SECONDS)
    first_epoch = float(delivery.get("first_attempt_epoch", now)) if delivery else now
    attempt = previous + 1
    body = str(event["body"]).encode()
    secret = vault.unseal_webhook_secret(program_id, endpoint_id, bytes(endpoint["secret_ciphertext"]))
    headers = {EVENT_ID_HEADER: event_id, SIGNATURE_HEADER: sign(secret, body, int(time.time()))}
    del secret
    sent_at = now_iso()
    result = webhook_http.post(str(endpoint["url"]), body, headers, settings.webhook_allow_loopback)
    scale = settings.webhook_retry_scale
    if result.succeeded:
        status, next_epoch, outcome = store.SUCCEEDED, None, "succeeded"
    elif time.time() - first_epoch >= RETRY_WINDOW * scale:
        status, next_epoch, outcome = store.FAILED, None, "failed"
    else:
        delay = _seconds(backoff(attempt, scale))
        status, next_epoch, outcome = store.PENDING, int(time.time()) + delay, "retrying"
    record = {"event_id": event_id, "event_type": str(event["event_type"]), "attempt": attempt,
              "attempted_at": sent_at, "outcome": outcome, "http_status": result.status, "error": result.error,
              "latency_ms": result.latency_ms,
              "next_retry_at": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next_epoch)) if next_epoch else None)}
    tx = Transaction()
    store.tx_record_attempt(tx, program_id, endpoint_id, record, status, next_epoch)
    try:
        tx.commit()
    except TransactionCancelled:
        # the claim was lost (a retry through the API reset the delivery meanwhile): the POST is made, and the
        # delivery's new state decides what follows
        logger.warning("webhook attempt outcome not recorded", extra={"endpoint_id": endpoint_id, "event_id": event_id})
        return Result("superseded", BUSY_RECHECK_SECONDS)
    metrics.add_metric(name=f"WebhookAttempt{outcome.capitalize()}", unit="Count", value=1)
    logger.info("webhook attempt", extra={"endpoint_id": endpoint_id, "event_id": event_id, "attempt": attempt,
                                          "http_status": result.status, "outcome": outcome,
                                          "latency_ms": result.latency_ms})
    if status == store.PENDING and next_epoch is not None:
        return Result(outcome, _seconds(next_epoch - time.time()))
    return Result(outcome)


def handle_message(message: dict[str, Any]) -> Result:
    kind = message.get("kind")
    program_id = str(message.get("program_id") or "")
    if kind == "event":
        return fan_out(program_id, str(message["event_id"]), str(message["event_type"]))
    if kind == "delivery":
        return deliver(program_id, str(message["endpoint_id"]), str(message["event_id"]))
    logger.error("webhook message of an unknown kind dropped", extra={"kind": str(kind)[:50]})
    return Result("unknown_kind")
