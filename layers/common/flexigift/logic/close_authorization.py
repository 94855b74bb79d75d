"""What capture, void and the expiry sweep share: closing an open authorization in ONE conditional
transaction with its Idempotency-Key's claim. Each use case (logic.capture, logic.void,
logic.expire_authorizations) decides what the holds become (logic.holds) and which status follows; this
module reads the payment and the cards, turns the decision into ledger entries, and commits through
store.authorizations.

The payment's condition (`status = authorized`, plus the expiry rule of the operation) is what decides a
race: of any number of concurrent captures, voids and sweeps of one authorization, exactly one commits, and
every other transaction writes nothing (its payment condition fails: 409 when it plans again). Nothing can
be both captured and released."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flexigift.errors import AuthorizationExpired, Conflict, NotFound, PaymentNotAuthorized, field_error
from flexigift.logic.holds import HoldSettlement
from flexigift.logic.idempotency import check_idempotency_key, claim_key, claim_record, claimed, request_hash
from flexigift.logic.payments import is_payment_id, stored_payment
from flexigift.logic.retries import attempts
from flexigift.models.checkout import Payment, PaymentStatus
from flexigift.observability import logger, metrics
from flexigift.store import authorizations, events, keys, ledger, wallet
from flexigift.store import checkout as store
from flexigift.store.table import Transaction, TransactionCancelled, batch_get, found_in


@dataclass(frozen=True)
class Closing:
    """One way an authorization closes. `settle` plans the holds from the payment as read (it may refuse);
    `expiry` is the rule the payment's condition holds: "unexpired" (capture), "expired" (the sweep), "any"
    (void)."""

    operation: str
    status: PaymentStatus
    expiry: str
    settle: Callable[[dict[str, Any]], list[HoldSettlement]]
    metric: str


def _refuse(payment: dict[str, Any], closing: Closing, now_epoch: int) -> None:
    status = PaymentStatus(payment["status"])
    if status is PaymentStatus.EXPIRED and closing.status is PaymentStatus.CAPTURED:
        raise AuthorizationExpired(
            f"Authorization {payment['id']} expired at {payment['hold_expires_at']}; its holds were released to the "
            "cards. Authorize again to charge them", fields=[field_error("id", "expired", "authorization_expired")])
    if status is not PaymentStatus.AUTHORIZED:
        raise PaymentNotAuthorized(
            f"Payment {payment['id']} is {status.value}, not authorized: it can be captured or voided only once, "
            "while authorized", fields=[field_error("id", f"is {status.value}", "payment_not_authorized")])
    expires = int(payment["hold_expires_epoch"])
    if closing.expiry == "unexpired" and now_epoch >= expires:
        raise AuthorizationExpired(
            f"Authorization {payment['id']} expired at {payment['hold_expires_at']}; its holds are released to the "
            "cards. Authorize again to charge them", fields=[field_error("id", "expired", "authorization_expired")])
    if closing.expiry == "expired" and now_epoch < expires:
        raise Conflict(f"Authorization {payment['id']} has not expired yet")


def _card_entries(tx: Transaction, program_id: str, payment_id: str, settled: HoldSettlement, card: dict[str, Any],
                  version: int, now: str) -> Decimal:
    """The card's settlement and its ledger entries (CAPTURE amount 0, then RELEASE +released); the card's
    balance after them."""
    balance, held = Decimal(card["balance"]), Decimal(card.get("held") or 0)
    entries: list[dict[str, Any]] = []
    if settled.captured > 0:
        entries.append({"activity_type": "CAPTURE", "amount": Decimal("0"), "balance_after": balance,
                        "hold_amount": settled.captured, "held_after": held - settled.captured})
    if settled.released > 0:
        entries.append({"activity_type": "RELEASE", "amount": settled.released,
                        "balance_after": balance + settled.released, "hold_amount": settled.released,
                        "held_after": held - settled.hold})
    authorizations.tx_settle_hold(tx, program_id, gift_card_id=settled.gift_card_id, card_id=settled.card_id,
                                  hold=settled.hold, captured=settled.captured, entries=len(entries),
                                  expected_version=version, now=now, label=f"card:{settled.card_id}")
    for step, entry in enumerate(entries, start=1):
        ledger.tx_append(tx, program_id, gift_card_id=settled.gift_card_id, card_id=settled.card_id,
                         sequence=version + step, reference=payment_id, created_at=now,
                         label=f"activity:{settled.card_id}:{step}", **entry)
    return balance + settled.released


def _changes(closing: Closing, payment: dict[str, Any], settled: list[HoldSettlement],
             balances: dict[str, Decimal], now: str) -> dict[str, Any]:
    captured = sum((s.captured for s in settled), Decimal("0"))
    released = sum((s.released for s in settled), Decimal("0"))
    changes: dict[str, Any] = {"status": closing.status.value, "amount": captured, "captured_amount": captured,
                               "released_amount": released, "updated_at": now,
                               "allocations": [{"card_id": s.card_id, "gift_card_id": s.gift_card_id,
                                                "amount": s.captured, "balance_after": balances[s.card_id],
                                                "refunded": Decimal("0")} for s in settled if s.captured > 0]}
    changes["captured_at" if closing.status is PaymentStatus.CAPTURED else "released_at"] = now
    return changes


def close_authorization(program_id: str, payment_id: str, closing: Closing, idempotency_key: str | None,
                        caller_key_id: str, request: dict[str, Any]) -> tuple[Payment, bool]:
    """Close the authorization as `closing` says, once per Idempotency-Key. Returns the payment as it is
    now and whether this is a replay of a request already applied under the key."""
    key = check_idempotency_key(idempotency_key, required=True, what=closing.operation.replace("_", " "))
    assert key is not None  # noqa: S101 - required
    hashed = request_hash(closing.operation, {"payment_id": payment_id, **request})
    claim_at = claim_key(program_id, closing.operation, key)
    valid_id = is_payment_id(payment_id)
    payment_at = keys.payment_key(program_id, payment_id) if valid_id else None
    first = batch_get([claim_at, *([payment_at] if payment_at else [])])
    claim = claimed(claim_at, hashed, found_in(first, claim_at))
    if claim is not None:
        return stored_payment(program_id, claim["payment_id"]), True

    for attempt in attempts(closing.operation.replace("_", " "), "nothing was changed"):
        payment = None
        if payment_at is not None:
            payment = (store.payment_record(found_in(first, payment_at)) if attempt == 0
                       else store.get_payment(program_id, payment_id))
        if payment is None or payment.get("program_id") != program_id:
            raise NotFound(f"No payment with id {payment_id}")
        now_epoch = int(time.time())
        _refuse(payment, closing, now_epoch)
        settled = closing.settle(payment)
        card_keys = {s.card_id: keys.entity_key(program_id, wallet.CARD.name, s.gift_card_id) for s in settled}
        cards = batch_get(list(card_keys.values()))
        now = wallet.now_iso()
        tx = Transaction()
        balances = {}
        for s in settled:
            found = wallet.record_of(wallet.CARD, found_in(cards, card_keys[s.card_id]))
            if found is None or found[0]["card_id"] != s.card_id:
                raise Conflict(f"Gift card '{s.card_id}' holding part of this authorization cannot be read; "
                               "nothing was changed")
            balances[s.card_id] = _card_entries(tx, program_id, payment_id, s, found[0], found[1], now)
        changes = _changes(closing, payment, settled, balances, now)
        authorizations.tx_close(tx, program_id, payment_id, changes, now_epoch=now_epoch, expiry=closing.expiry)
        events.tx_put_event(tx, program_id, f"payment.{closing.status.value}", Payment.from_record({**payment, **changes}),
                            now)
        store.tx_claim_idempotency(tx, claim_at, claim_record(closing.operation, hashed, now, payment_id=payment_id,
                                                              key_id=caller_key_id))
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "idempotency" in failed:  # a twin with the same key committed first: its answer
                claim = claimed(claim_at, hashed)
                if claim is not None:
                    return stored_payment(program_id, claim["payment_id"]), True
            if failed or cancelled.contention:  # the payment closed meanwhile, or a card moved: read again
                continue
            raise
        metrics.add_metric(name=closing.metric, unit="Count", value=1)
        logger.info(f"authorization {closing.status.value}", extra={"payment_id": payment_id, "attempts": attempt + 1})
        return stored_payment(program_id, payment_id), False
    raise AssertionError("unreachable: attempts raises when exhausted")
