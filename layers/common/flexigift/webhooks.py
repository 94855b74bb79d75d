"""Webhook signatures, for Flexigift and for the programs that receive its webhooks.

Every delivery carries `Flexigift-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC of
`"<t>.<raw body>"` keyed with the endpoint's secret (`whsec_...`, shown once when the endpoint was created).
A receiver checks it over the raw bytes it received (before parsing them), refuses a timestamp too far from
its own clock (a replayed delivery), and deduplicates on `Flexigift-Event-Id`: a delivery may come more than
once (at least once).

    from flexigift.webhooks import verify_signature
    ok = verify_signature(secret, request.body, request.headers["Flexigift-Signature"])
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Flexigift-Signature"
EVENT_ID_HEADER = "Flexigift-Event-Id"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The Flexigift-Signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes | str, header: str | None, *,
                     tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when `header` (Flexigift-Signature) signs `body` (the raw request body) with `secret` and its
    timestamp is within `tolerance_seconds` of `now`. Any malformed header is simply False."""
    if not header or not secret:
        return False
    raw = body.encode() if isinstance(body, str) else bytes(body)
    timestamp, candidates = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, raw, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, c) for c in candidates)
