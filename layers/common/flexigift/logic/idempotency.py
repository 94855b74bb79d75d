"""Idempotency-Keys: one request's effect, once per key, per program and operation.

A key is claimed by an item written in the SAME transaction as the effect it guards (a payment, a refund,
a balance activity, a reward order): either both are stored or neither is, so a function that dies at any
line leaves either nothing (the retry does the work) or both (the retry replays the stored answer). The
claim holds a hash of the request, so the same key with another request is refused, not replayed.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flexigift.errors import BadRequest, IdempotencyKeyReused, ValidationFailed, field_error
from flexigift.store import checkout as store
from flexigift.store import keys

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(hours=24)
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")          # visible ASCII, no spaces: a UUID fits


def check_idempotency_key(value: str | None, *, required: bool, what: str = "request") -> str | None:
    """The header's value, checked: missing is a 400 naming the header when the operation requires one."""
    if value is None or value == "":
        if required:
            raise BadRequest(f"The {IDEMPOTENCY_HEADER} header is required: send a unique value (a UUID) per "
                             f"{what}, and the same value when retrying it",
                             fields=[field_error(IDEMPOTENCY_HEADER, "is required", "missing")])
        return None
    if not _KEY_PATTERN.fullmatch(value):
        raise ValidationFailed(f"{IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters",
                               fields=[field_error(IDEMPOTENCY_HEADER, "must be 1 to 255 visible ASCII characters")])
    return value


def request_hash(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(program_id: str, operation: str, key: str) -> dict[str, str]:
    return keys.idempotency_key(program_id, operation, key)


_UNREAD: dict[str, Any] = {}


def claimed(key: dict[str, str], hashed: str, item: dict[str, Any] | None = _UNREAD) -> dict[str, Any] | None:
    """The stored claim of an Idempotency-Key, if any; a different request under it is refused. `item` is
    the claim's item when the caller already read it (None: there is none), else it is read here."""
    claim = store.get_idempotency(key) if item is _UNREAD else store.claim_record(item)
    if claim is not None and claim["request_hash"] != hashed:
        raise IdempotencyKeyReused(
            f"This {IDEMPOTENCY_HEADER} was already used for a different request; use a new key for a new "
            "request, or resend exactly the original request to get its result",
            fields=[field_error(IDEMPOTENCY_HEADER, "already used with a different body", "idempotency_key_reused")])
    return claim


def claim_record(operation: str, hashed: str, created_at: str, **refs: Any) -> dict[str, Any]:
    """What a claim stores: the operation, the request's hash, what the effect made (refs), and a TTL."""
    expires = datetime.now(UTC) + IDEMPOTENCY_TTL
    return {"operation": operation, "request_hash": hashed, "created_at": created_at,
            keys.TTL_ATTRIBUTE: int(expires.timestamp()), **refs}
