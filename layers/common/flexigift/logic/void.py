"""POST /payments/{id}/void: the order was cancelled; every hold of the authorization goes back to its card
(a RELEASE entry each) in one transaction. Only while the payment is authorized (409 otherwise)."""

from __future__ import annotations

from flexigift.api import Caller
from flexigift.logic.close_authorization import Closing, close_authorization
from flexigift.logic.holds import release_all
from flexigift.models.checkout import Payment, PaymentStatus

VOID = Closing(operation="void", status=PaymentStatus.VOIDED, expiry="any",
               settle=lambda payment: release_all(payment["holds"]), metric="PaymentVoided")


def void_payment(who: Caller, payment_id: str, idempotency_key: str | None) -> tuple[Payment, bool]:
    return close_authorization(who.program_id, payment_id, VOID, idempotency_key, who.key_id, {})
