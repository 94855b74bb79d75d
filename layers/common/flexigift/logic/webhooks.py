"""Webhook endpoints through the API: register (the secret shown once, stored sealed by KMS), list, delete, read an
endpoint's delivery log, and ask for a delivery again. An endpoint belongs to the caller's program and receives
only that program's events (every key below is built from the caller's program)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from flexigift import vault
from flexigift.api import Caller
from flexigift.delivery.webhook_http import UnsafeUrl, resolve
from flexigift.errors import Conflict, InvalidCursor, NotFound, ValidationFailed, field_error
from flexigift.logic.events import is_event_id
from flexigift.models.events import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
)
from flexigift.observability import logger, metrics
from flexigift.settings import get_settings
from flexigift.store import events, keys
from flexigift.store import webhooks as store
from flexigift.store.table import Transaction, TransactionCancelled
from flexigift.store.wallet import now_iso

_ENDPOINT_ID = re.compile(r"^we_[0-9a-f]{24}$")


def is_endpoint_id(value: str) -> bool:
    return bool(_ENDPOINT_ID.fullmatch(value))


def check_url(url: str) -> None:
    """422 unless the URL may receive webhooks (see delivery.webhook_http); checked again at every delivery."""
    try:
        resolve(url, get_settings().webhook_allow_loopback)
    except UnsafeUrl as exc:
        raise ValidationFailed(f"url {exc}", fields=[field_error("url", str(exc), "unsafe_url")]) from None


def _shown(record: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(id=record["id"], url=record["url"], events=list(record["events"]),
                           description=record.get("description"), secret_last4=record["secret_last4"],
                           created_at=record["created_at"])


def create_endpoint(who: Caller, body: WebhookEndpointCreate) -> WebhookEndpointCreated:
    check_url(body.url)
    endpoint_id = "we_" + secrets.token_hex(12)
    secret = "whsec_" + secrets.token_urlsafe(32)
    record = {"id": endpoint_id, "url": body.url, "events": list(body.events), "description": body.description,
              "secret_last4": secret[-4:], "created_at": now_iso(), "program_id": who.program_id,
              "key_id": who.key_id}
    tx = Transaction()
    store.tx_create_endpoint(tx, who.program_id, record,
                             vault.seal_webhook_secret(who.program_id, endpoint_id, secret))
    try:
        tx.commit()
    except TransactionCancelled as cancelled:
        if "count" in tx.failed_labels(cancelled):
            raise Conflict(f"A program has at most {store.MAX_ENDPOINTS} webhook endpoints: delete one first",
                           fields=[field_error("url", "too many endpoints", "limit")]) from None
        raise
    metrics.add_metric(name="WebhookEndpointCreated", unit="Count", value=1)
    logger.info("webhook endpoint created", extra={"endpoint_id": endpoint_id, "events": len(body.events)})
    return WebhookEndpointCreated(**_shown(record).model_dump(), secret=secret)


def list_endpoints(who: Caller) -> list[WebhookEndpoint]:
    return [_shown(store.endpoint_record(i)) for i in store.list_endpoints(who.program_id)]


def _endpoint(who: Caller, endpoint_id: str) -> dict[str, Any]:
    item = store.get_endpoint(who.program_id, endpoint_id) if is_endpoint_id(endpoint_id) else None
    if item is None:
        raise NotFound(f"No webhook endpoint with id {endpoint_id}")
    return item


def delete_endpoint(who: Caller, endpoint_id: str) -> None:
    """Deleting stops its deliveries (a queued one finds no endpoint and ends); the log expires with its TTL."""
    if not is_endpoint_id(endpoint_id):
        raise NotFound(f"No webhook endpoint with id {endpoint_id}")
    tx = Transaction()
    store.tx_delete_endpoint(tx, who.program_id, endpoint_id)
    try:
        tx.commit()
    except TransactionCancelled as cancelled:
        if "endpoint" in tx.failed_labels(cancelled):
            raise NotFound(f"No webhook endpoint with id {endpoint_id}") from None
        raise


def _iso(epoch: int | None) -> str | None:
    if not epoch:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def list_attempts(who: Caller, endpoint_id: str, limit: int, cursor: str | None) -> tuple[list[WebhookAttempt], str | None]:
    _endpoint(who, endpoint_id)
    if cursor is not None and not _cursor_in_log(cursor):
        raise InvalidCursor("cursor does not belong to this listing; use the Link header of the previous page")
    records, next_cursor = store.list_attempts(who.program_id, endpoint_id, limit, cursor)
    return [WebhookAttempt.model_validate(r) for r in records], next_cursor


def _cursor_in_log(cursor: str) -> bool:
    import base64
    import json

    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        return True  # decode_cursor refuses it with its own message
    return not isinstance(data, dict) or str(data.get("SK", "")).startswith(keys.ATTEMPT_PREFIX)


def retry_delivery(who: Caller, endpoint_id: str, event_id: str) -> WebhookDelivery:
    """Deliver an event (of the caller's program, still kept) to the endpoint again, now, with a new retry window,
    whether its earlier delivery succeeded, failed or is still retrying."""
    _endpoint(who, endpoint_id)
    event = events.get_event(who.program_id, event_id) if is_event_id(event_id) else None
    if event is None:
        raise NotFound(f"No event with id {event_id} (events are kept 30 days)")
    now_epoch, now = int(time.time()), now_iso()
    tx = Transaction()
    store.tx_request_retry(tx, who.program_id, endpoint_id, event_id, event["event_type"], now_epoch, now)
    tx.commit()
    metrics.add_metric(name="WebhookRetryRequested", unit="Count", value=1)
    delivery = store.get_delivery(who.program_id, endpoint_id, event_id) or {}
    return WebhookDelivery(event_id=event_id, event_type=event["event_type"], status=str(delivery.get("status", "pending")),
                           attempts=int(delivery.get("attempts", 0)),
                           next_attempt_at=_iso(int(delivery.get("next_attempt_epoch", now_epoch))))
