"""POST /payments/{id}/refunds: credit part or all of a payment's captured amount back to the cards it
debited, once per Idempotency-Key, in one conditional transaction (the payment's refund count and total, each
card's credit and ledger entry, the key's claim). An authorization is not refunded: it is voided (nothing was
captured) or captured first; a partial capture's refunds apply to the captured part only."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from flexigift.errors import Conflict, NotFound, RefundExceedsPayment, field_error
from flexigift.logic.checkout_wallet import amount_text
from flexigift.logic.idempotency import (
    IDEMPOTENCY_HEADER,
    check_idempotency_key,
    claim_key,
    claim_record,
    claimed,
    request_hash,
)
from flexigift.logic.payments import is_payment_id
from flexigift.logic.retries import attempts
from flexigift.models.checkout import REFUNDABLE_STATUSES, PaymentStatus, Refund, RefundCreate
from flexigift.observability import logger, metrics
from flexigift.store import checkout as store
from flexigift.store import events, keys, ledger, wallet
from flexigift.store.table import Transaction, TransactionCancelled, batch_get, found_in

__all__ = ["IDEMPOTENCY_HEADER", "refund_payment"]

MAX_REFUNDS_PER_PAYMENT = 100


def _refuse_unless_captured(payment: dict[str, Any]) -> None:
    status = PaymentStatus(payment["status"])
    if status in REFUNDABLE_STATUSES or status is PaymentStatus.REFUNDED:
        return
    if status is PaymentStatus.AUTHORIZED:
        raise Conflict(f"Payment {payment['id']} is only authorized: capture it first, or void it to release the "
                       "holds", fields=[field_error("id", "authorized, not captured", "not_captured")])
    raise Conflict(f"Payment {payment['id']} was {status.value}: nothing was captured, so nothing can be refunded",
                   fields=[field_error("id", f"{status.value}, nothing captured", "not_captured")])


def _refund_plan(payment: dict[str, Any], amount: Decimal) -> tuple[list[dict[str, Any]], list[tuple[dict, Decimal]]]:
    """Credit back in reverse allocation order, each card at most what it paid less what it got back.
    Returns the payment's allocations with their new refunded amounts, and (allocation, amount) credits."""
    allocations = [dict(a) for a in payment["allocations"]]
    credits, left = [], amount
    for allocation in reversed(allocations):
        room = Decimal(allocation["amount"]) - Decimal(allocation.get("refunded", 0))
        take = min(left, room)
        if take > 0:
            allocation["refunded"] = Decimal(allocation.get("refunded", 0)) + take
            credits.append((allocation, take))
            left -= take
    return allocations, credits


def refund_payment(payment_id: str, body: RefundCreate, idempotency_key: str | None, caller_key_id: str,
                   program_id: str) -> tuple[Refund, bool]:
    """Credit (part of) a payment back to the cards it debited. Returns the refund and whether it is a
    replay under an Idempotency-Key already used for it."""
    key = check_idempotency_key(idempotency_key, required=True, what="refund")
    assert key is not None
    hashed = request_hash("refund", {"payment_id": payment_id, **body.model_dump(mode="json")})
    claim_at = claim_key(program_id, "refund", key)
    valid_id = is_payment_id(payment_id)
    first = batch_get([claim_at, *([keys.payment_key(program_id, payment_id)] if valid_id else [])])
    claim = claimed(claim_at, hashed, found_in(first, claim_at))
    if claim is not None:
        return _stored_refund(program_id, claim), True

    refund_id = "rfd_" + secrets.token_hex(12)
    for attempt in attempts("refund", "nothing was credited"):
        if not valid_id:
            payment = None
        elif attempt == 0:
            payment = store.payment_record(found_in(first, keys.payment_key(program_id, payment_id)))
        else:
            payment = store.get_payment(program_id, payment_id)
        if payment is None or payment.get("program_id") != program_id:
            raise NotFound(f"No payment with id {payment_id}")
        _refuse_unless_captured(payment)
        captured, refunded = Decimal(payment["amount"]), Decimal(payment.get("refunded_amount", 0))
        refundable = captured - refunded
        if refundable <= 0:
            raise RefundExceedsPayment(f"Payment {payment_id} is already fully refunded ({amount_text(captured)})",
                                       fields=[field_error("amount", "nothing is left to refund", "fully_refunded")])
        amount = body.amount if body.amount is not None else refundable
        if amount > refundable:
            raise RefundExceedsPayment(
                f"At most {amount_text(refundable)} of payment {payment_id} can be refunded ({amount_text(captured)} "
                f"captured, {amount_text(refunded)} already refunded)",
                fields=[field_error("amount", f"must be at most {amount_text(refundable)}", "exceeds_refundable")])
        sequence = int(payment.get("refund_count", 0)) + 1
        if sequence > MAX_REFUNDS_PER_PAYMENT:
            raise Conflict(f"A payment can have at most {MAX_REFUNDS_PER_PAYMENT} refunds")
        allocations, credits = _refund_plan(payment, amount)
        now = wallet.now_iso()
        tx = Transaction()
        refund_allocations = []
        card_keys = {int(a["gift_card_id"]): keys.entity_key(program_id, wallet.CARD.name, int(a["gift_card_id"]))
                     for a, _ in credits}
        cards = batch_get(list(card_keys.values())) if card_keys else {}
        for allocation, credit in credits:
            gift_card_id = int(allocation["gift_card_id"])
            found = wallet.record_of(wallet.CARD, found_in(cards, card_keys[gift_card_id]))
            if found is None:
                raise Conflict(f"Gift card '{allocation['card_id']}' was deleted, so {amount_text(credit)} of this "
                               "refund cannot be credited back to it; nothing was refunded")
            card, version = found
            balance_after = Decimal(card["balance"]) + credit
            store.tx_credit_card(tx, program_id, gift_card_id=gift_card_id, card_id=allocation["card_id"], amount=credit,
                                 expected_version=version, now=now,
                                 label=f"card:{allocation['card_id']}")
            ledger.tx_append(tx, program_id, gift_card_id=gift_card_id, card_id=card["card_id"], sequence=version + 1,
                             activity_type="REFUND", amount=credit, balance_after=balance_after,
                             reference=payment_id, refund_id=refund_id, created_at=now,
                             label=f"activity:{allocation['card_id']}")
            refund_allocations.append({"card_id": allocation["card_id"], "gift_card_id": gift_card_id,
                                       "amount": credit, "balance_after": balance_after})
        refund = {"id": refund_id, "payment_id": payment_id, "sequence": sequence, "amount": amount,
                  "allocations": refund_allocations, "created_at": now, "key_id": caller_key_id}
        status = PaymentStatus.REFUNDED if refunded + amount == captured else PaymentStatus.PARTIALLY_REFUNDED
        store.tx_record_refund(tx, program_id, payment, refund, allocations, status.value)
        events.tx_put_event(tx, program_id, "refund.created", Refund.from_record(refund), now)
        store.tx_claim_idempotency(tx, claim_at, claim_record("refund", hashed, now, payment_id=payment_id,
                                                              refund_sequence=sequence))
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "idempotency" in failed:
                claim = claimed(claim_at, hashed)
                if claim is not None:
                    return _stored_refund(program_id, claim), True
            if failed or cancelled.contention:  # another refund or a card changed since it was read
                continue
            raise
        metrics.add_metric(name="PaymentRefunded", unit="Count", value=1)
        logger.info("payment refunded", extra={"payment_id": payment_id, "refund_id": refund_id,
                                               "amount": str(amount), "status": status.value})
        return Refund.from_record(refund), False
    raise AssertionError("unreachable: attempts raises when exhausted")


def _stored_refund(program_id: str, claim: dict[str, Any]) -> Refund:
    found = store.get_refund(program_id, claim["payment_id"], int(claim["refund_sequence"]))
    if found is None:
        raise Conflict(f"A refund is recorded for this {IDEMPOTENCY_HEADER} but cannot be read")
    return Refund.from_record(found)
