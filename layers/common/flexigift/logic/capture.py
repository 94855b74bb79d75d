"""POST /payments/{id}/capture: an authorization becomes a payment, whole or in part (an order that ships
partly). The captured part of each hold is the payment's (refundable from then on), the rest goes back to
the cards, in the same transaction. Once: a second capture, or a capture of a voided or expired
authorization, is a 409; after expires_at it is 409 authorization_expired."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flexigift.api import Caller
from flexigift.errors import CaptureExceedsAuthorization, field_error
from flexigift.logic.checkout_wallet import amount_text
from flexigift.logic.close_authorization import Closing, close_authorization
from flexigift.logic.holds import HoldSettlement, held_total, split_capture
from flexigift.models.checkout import CaptureRequest, Payment, PaymentStatus


def _planner(amount: Decimal | None):
    def settle(payment: dict[str, Any]) -> list[HoldSettlement]:
        authorized = held_total(payment["holds"])
        wanted = authorized if amount is None else amount
        if wanted > authorized:
            raise CaptureExceedsAuthorization(
                f"At most {amount_text(authorized)} of authorization {payment['id']} can be captured",
                fields=[field_error("amount", f"must be at most {amount_text(authorized)}",
                                    "exceeds_authorization")])
        return split_capture(payment["holds"], wanted)

    return settle


def capture_payment(who: Caller, payment_id: str, body: CaptureRequest,
                    idempotency_key: str | None) -> tuple[Payment, bool]:
    closing = Closing(operation="capture", status=PaymentStatus.CAPTURED, expiry="unexpired",
                      settle=_planner(body.amount), metric="PaymentCaptured")
    return close_authorization(who.program_id, payment_id, closing, idempotency_key, who.key_id,
                               body.model_dump(mode="json"))
