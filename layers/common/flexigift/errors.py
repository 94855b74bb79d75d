"""Domain exceptions. Logic raises these; api.py is the one place that turns them into HTTP."""

from __future__ import annotations

from typing import Any


class FlexigiftError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}


class BadRequest(FlexigiftError):
    status, code = 400, "bad_request"


class MalformedBody(FlexigiftError):
    status, code = 400, "malformed_json"


class InvalidCursor(FlexigiftError):
    status, code = 400, "invalid_cursor"


class UnsupportedFilter(FlexigiftError):
    status, code = 400, "unsupported_filter"


class Unauthorized(FlexigiftError):
    status, code = 401, "unauthorized"


class Forbidden(FlexigiftError):
    status, code = 403, "forbidden"


class NotFound(FlexigiftError):
    status, code = 404, "not_found"


class MethodNotAllowed(FlexigiftError):
    status, code = 405, "method_not_allowed"


class Conflict(FlexigiftError):
    status, code = 409, "conflict"


class InsufficientFunds(Conflict):
    """The gift cards that may pay cannot cover the amount (and the caller did not accept a remainder)."""

    code = "insufficient_funds"


class CardUnusable(Conflict):
    """A card named for a payment is blocked or expired."""

    code = "card_unusable"


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class PaymentNotAuthorized(Conflict):
    """A capture or void of a payment that is no longer (or never was) an open authorization."""

    code = "payment_not_authorized"


class AuthorizationExpired(Conflict):
    """A capture after the authorization's expires_at: its holds are (or are about to be) released."""

    code = "authorization_expired"


class CaptureExceedsAuthorization(Conflict):
    code = "capture_exceeds_authorization"


class ValidationFailed(FlexigiftError):
    status, code = 422, "validation_failed"


class IdempotencyKeyReused(ValidationFailed):
    """An Idempotency-Key already used with a different request body."""

    code = "idempotency_key_reused"


class TooManyRequests(FlexigiftError):
    status, code = 429, "too_many_requests"


def field_error(field: str, message: str, kind: str = "invalid") -> dict[str, str]:
    """One entry of an error's `fields` list."""
    return {"field": field, "message": message, "type": kind}
