"""GET /payments/{id}, and what the payment use cases share: the shape of a payment id, reading a payment
back for a replayed Idempotency-Key."""

from __future__ import annotations

import re

from flexigift.errors import Conflict, NotFound
from flexigift.logic.idempotency import IDEMPOTENCY_HEADER
from flexigift.models.checkout import Payment
from flexigift.store import checkout as store

PAYMENT_ID = re.compile(r"pay_[0-9a-f]{24}")


def is_payment_id(payment_id: str) -> bool:
    return PAYMENT_ID.fullmatch(payment_id) is not None


def get_payment(payment_id: str, program_id: str) -> Payment:
    found = store.get_payment_with_refunds(program_id, payment_id) if is_payment_id(payment_id) else None
    if found is None or found[0].get("program_id") != program_id:
        raise NotFound(f"No payment with id {payment_id}")
    return Payment.from_record(*found)


def stored_payment(program_id: str, payment_id: str) -> Payment:
    """The payment an Idempotency-Key's claim names (committed with it, so it exists while the claim does)."""
    found = store.get_payment_with_refunds(program_id, payment_id)
    if found is None:
        raise Conflict(f"Payment {payment_id} is recorded for this {IDEMPOTENCY_HEADER} but cannot be read")
    return Payment.from_record(*found)
