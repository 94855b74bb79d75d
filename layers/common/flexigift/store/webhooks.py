"""Storage of webhook endpoints, their deliveries and the log of every attempt.

Endpoint   PK=P#<program>#WEBHOOKS        SK=ENDPOINT#<we_...>   (url, events, secret as KMS ciphertext)
Count      PK=P#<program>#WEBHOOKS        SK=COUNT               (at most MAX_ENDPOINTS per program)
Delivery   PK=P#<program>#WEBHOOK#<we_>   SK=DELIVERY#<evt_...>  (status, attempts, next_attempt_epoch; TTL 30 d)
Attempt    PK=P#<program>#WEBHOOK#<we_>   SK=ATTEMPT#<at>#<evt_...>#<n>  (the log; TTL 30 days)

A delivery is a small state machine held by conditional writes, so that any number of copies of its queue
message (SQS delivers at least once) make one attempt at a time: a copy claims attempt n only while the stored
attempts are n - 1, the delivery is pending and due; the claim holds a lease (next_attempt_epoch) for as long
as an attempt may take; the attempt's outcome is written with its log entry under `attempts = n`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from flexigift.store import keys
from flexigift.store.table import (
    ConditionFailed,
    Query,
    Transaction,
    batch_get,
    found_in,
    get_item,
    query_page,
    update_item,
)
from flexigift.store.wallet import decode_cursor, encode_cursor

MAX_ENDPOINTS = 16
RETENTION_SECONDS = 30 * 86400
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
OUTBOX_KIND = "webhook_delivery"
_INTERNAL = {"PK", "SK", "type", "secret_ciphertext"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL}


def _count_key(program_id: str) -> dict[str, str]:
    return {"PK": keys.webhook_endpoints_partition(program_id), "SK": "COUNT"}


# --- endpoints -------------------------------------------------------------------------------------------


def tx_create_endpoint(tx: Transaction, program_id: str, record: dict[str, Any], ciphertext: bytes) -> None:
    """The endpoint and the program's endpoint count (label 'count' fails at MAX_ENDPOINTS)."""
    tx.update("count", _count_key(program_id), "ADD #n :one", condition="attribute_not_exists(#n) OR #n < :max",
              names={"#n": "endpoints"}, vals={"one": 1, "max": MAX_ENDPOINTS})
    tx.put("endpoint", {**keys.webhook_endpoint_key(program_id, record["id"]), "type": "WEBHOOK_ENDPOINT", **record,
                        "secret_ciphertext": ciphertext}, condition="attribute_not_exists(PK)")


def tx_delete_endpoint(tx: Transaction, program_id: str, endpoint_id: str) -> None:
    """Label 'endpoint' fails when there is no such endpoint."""
    tx.delete("endpoint", keys.webhook_endpoint_key(program_id, endpoint_id), condition="attribute_exists(PK)")
    tx.update("count", _count_key(program_id), "ADD #n :minus", names={"#n": "endpoints"}, vals={"minus": -1})


def list_endpoints(program_id: str) -> list[dict[str, Any]]:
    """Every endpoint of the program (at most MAX_ENDPOINTS), oldest first, read consistently."""
    items, _ = query_page(Query(index=None, pk_name="PK", pk_value=keys.webhook_endpoints_partition(program_id),
                                limit=MAX_ENDPOINTS + 1, sk_name="SK", sk_prefix="ENDPOINT#", consistent=True))
    return sorted(items, key=lambda i: (str(i["created_at"]), str(i["id"])))


def endpoint_record(item: dict[str, Any]) -> dict[str, Any]:
    return _record(item)


def get_endpoint(program_id: str, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint's stored item (secret_ciphertext included: the caller opens it only to sign)."""
    return get_item(keys.webhook_endpoint_key(program_id, endpoint_id))


# --- deliveries ------------------------------------------------------------------------------------------


def delivery_inputs(program_id: str, endpoint_id: str,
                    event_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(endpoint item, delivery, event item) in one BatchGetItem."""
    endpoint_at = keys.webhook_endpoint_key(program_id, endpoint_id)
    delivery_at = keys.webhook_delivery_key(program_id, endpoint_id, event_id)
    event_at = keys.event_key(program_id, event_id)
    found = batch_get([endpoint_at, delivery_at, event_at])
    return found_in(found, endpoint_at), found_in(found, delivery_at), found_in(found, event_at)


def claim_attempt(program_id: str, endpoint_id: str, event_id: str, event_type: str, previous: int,
                  now_epoch: float, lease_until: float) -> bool:
    """Claim attempt previous + 1 of a pending, due delivery (or the first of a new one); False when another
    copy of the message holds it or the delivery is settled."""
    try:
        update_item(
            keys.webhook_delivery_key(program_id, endpoint_id, event_id),
            "SET attempts = :n, next_attempt_epoch = :lease, #st = :pending, event_id = :eid, event_type = :et, "
            "first_attempt_epoch = if_not_exists(first_attempt_epoch, :now), expires_at = :ttl",
            "attribute_not_exists(PK) OR (attempts = :prev AND #st = :pending AND next_attempt_epoch <= :now)",
            names={"#st": "status"},
            vals={"n": previous + 1, "prev": previous, "lease": int(lease_until), "pending": PENDING,
                  "eid": event_id, "et": event_type, "now": int(now_epoch), "ttl": int(now_epoch) + RETENTION_SECONDS})
    except ConditionFailed:
        return False
    return True


def tx_record_attempt(tx: Transaction, program_id: str, endpoint_id: str, attempt: dict[str, Any], status: str,
                      next_attempt_epoch: int | None) -> None:
    """The attempt's log entry and the delivery's new state, only if the attempt is still the claimed one."""
    at = attempt["attempted_at"]
    tx.put("attempt", {**keys.webhook_attempt_key(program_id, endpoint_id, at, attempt["event_id"], attempt["attempt"]),
                       "type": "WEBHOOK_ATTEMPT", **attempt, "expires_at": int(time.time()) + RETENTION_SECONDS},
           condition="attribute_not_exists(PK)")
    tx.update("delivery", keys.webhook_delivery_key(program_id, endpoint_id, attempt["event_id"]),
              "SET #st = :status, next_attempt_epoch = :next, last_http_status = :code, updated_at = :at",
              condition="attempts = :n", names={"#st": "status"},
              vals={"status": status, "next": next_attempt_epoch or 0, "code": attempt.get("http_status") or 0,
                    "at": at, "n": attempt["attempt"]})


def mark_failed(program_id: str, endpoint_id: str, event_id: str, reason: str, now: str) -> None:
    """A delivery that can no longer be made (its event expired): failed, kept."""
    update_item(keys.webhook_delivery_key(program_id, endpoint_id, event_id),
                "SET #st = :failed, failure_reason = :why, updated_at = :now",
                "attribute_not_exists(#st) OR #st = :pending", names={"#st": "status"},
                vals={"failed": FAILED, "why": reason, "now": now, "pending": PENDING})


def tx_request_retry(tx: Transaction, program_id: str, endpoint_id: str, event_id: str, event_type: str,
                     now_epoch: int, created_at: str) -> None:
    """A retry asked for through the API: the delivery is pending and due now (a new retry window), and an outbox
    record (relayed from the stream to the delivery queue) wakes it."""
    tx.update("delivery", keys.webhook_delivery_key(program_id, endpoint_id, event_id),
              "SET #st = :pending, next_attempt_epoch = :now, first_attempt_epoch = :now, "
              "attempts = if_not_exists(attempts, :zero), event_id = :eid, event_type = :et, expires_at = :ttl, "
              "updated_at = :at", names={"#st": "status"},
              vals={"pending": PENDING, "now": now_epoch, "zero": 0, "eid": event_id, "et": event_type,
                    "ttl": now_epoch + RETENTION_SECONDS, "at": created_at})
    message_id = f"{OUTBOX_KIND}#{endpoint_id}#{event_id}#{uuid.uuid4().hex}"
    tx.put("outbox", {**keys.outbox_key(program_id, message_id), "type": keys.OUTBOX_TYPE, "kind": OUTBOX_KIND,
                      "program_id": program_id, "endpoint_id": endpoint_id, "event_id": event_id,
                      "created_at": created_at, "expires_at": now_epoch + 86400},
           condition="attribute_not_exists(PK)")


def get_delivery(program_id: str, endpoint_id: str, event_id: str) -> dict[str, Any] | None:
    item = get_item(keys.webhook_delivery_key(program_id, endpoint_id, event_id))
    return _record(item) if item else None


def list_attempts(program_id: str, endpoint_id: str, limit: int,
                  cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of an endpoint's attempts, newest first."""
    partition = keys.webhook_deliveries_partition(program_id, endpoint_id)
    start = decode_cursor(cursor, {"PK", "SK"}, ("PK", partition)) if cursor else None
    items, last = query_page(Query(index=None, pk_name="PK", pk_value=partition, limit=limit, start_key=start,
                                   forward=False, sk_name="SK", sk_prefix=keys.ATTEMPT_PREFIX, consistent=True))
    return [_record(i) for i in items], (encode_cursor(last) if last else None)
