"""POST /payments: pay for items with the shopper's gift cards, captured at once or, with `"capture": false`,
authorized: the same allocations placed as holds (flexigift.store.authorizations), to be captured, voided, or
released by the expiry sweep.

Money moves only inside one DynamoDB transaction per request, whose conditions hold the rules (see
flexigift.store.checkout and store.authorizations). What is read first only plans the transaction; if
anything changed since, a condition fails, the transaction writes nothing, and the request plans again from
fresh reads, for a bounded time. The Idempotency-Key is claimed in the same transaction as the debits or
holds, so a retry can never debit twice and a crash can never leave a key without its payment (or the
reverse)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flexigift.errors import InsufficientFunds, field_error
from flexigift.logic import gift_cards
from flexigift.logic.allocation import Plan
from flexigift.logic.checkout_wallet import (
    Wallet,
    allocations,
    amount_text,
    first_reads,
    plan,
    read_wallet,
    reread_cards,
)
from flexigift.logic.idempotency import (
    IDEMPOTENCY_HEADER,
    check_idempotency_key,
    claim_key,
    claim_record,
    claimed,
    request_hash,
)
from flexigift.logic.payments import stored_payment
from flexigift.logic.retries import attempts
from flexigift.models.checkout import DEFAULT_HOLD_SECONDS, Payment, PaymentCreate, PaymentStatus
from flexigift.observability import logger, metrics
from flexigift.store import authorizations, events, ledger, wallet
from flexigift.store import checkout as store
from flexigift.store.table import Transaction, TransactionCancelled, found_in

__all__ = ["IDEMPOTENCY_HEADER", "create_payment"]


def _refuse_short_plan(planned: Plan, allow_remainder: bool) -> None:
    if planned.payable > 0 and (allow_remainder or planned.remainder == 0):
        return
    fields = [field_error(f"items[{i}]", f"{lp.line.eligible_issuer} gift cards can pay {amount_text(lp.paid)} of "
                                         f"{amount_text(lp.line.amount)}", "insufficient_funds")
              for i, lp in enumerate(planned.lines) if lp.remainder > 0]
    if planned.payable == 0:
        raise InsufficientFunds(f"None of the user's gift cards can pay for these items (total "
                                f"{amount_text(planned.total)}); nothing was charged", fields=fields)
    raise InsufficientFunds(
        f"The user's gift cards can pay {amount_text(planned.payable)} of {amount_text(planned.total)}, leaving "
        f"{amount_text(planned.remainder)}; nothing was charged. Send allow_remainder: true to capture "
        f"{amount_text(planned.payable)} and collect the rest by other means", fields=fields)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _payment_record(payment_id: str, checkout: Wallet, planned: Plan, now: str, who: dict[str, Any],
                    expires: datetime | None) -> dict[str, Any]:
    items = []
    for priced, line_plan in zip(checkout.lines, planned.lines, strict=True):
        items.append({"product_id": priced.product["product_id"], "name": priced.product["name"],
                      "eligible_issuer": priced.product["eligible_issuer"], "quantity": priced.quantity,
                      "unit_price": Decimal(priced.product["price"]), "amount": line_plan.line.amount,
                      "paid_by_gift_cards": line_plan.paid, "remainder_due": line_plan.remainder})
    record = {
        "id": payment_id, "status": PaymentStatus.CAPTURED.value, "amount": planned.payable, "total": planned.total,
        "remainder_due": planned.remainder,
        "allocations": [{**a, "refunded": Decimal("0")} for a in allocations(planned)],
        "refunded_amount": Decimal("0"), "refund_count": 0, "user_id": checkout.user_id,
        "amazon_id": checkout.amazon_id, "items": items, "created_at": now, "updated_at": now, **who,
    }
    if expires is not None:  # an authorization: the allocations are holds until it closes
        record.update({"status": PaymentStatus.AUTHORIZED.value, "authorized_amount": planned.payable,
                       "holds": allocations(planned), "hold_expires_at": _iso(expires),
                       "hold_expires_epoch": int(expires.timestamp())})
    return record


def _add_card_moves(tx: Transaction, program_id: str, checkout: Wallet, planned: Plan, payment_id: str, now: str,
                    authorize: bool) -> None:
    """Per card: the debit (REDEEM) or the hold (HOLD), and its ledger entry."""
    today = gift_cards.today().isoformat()
    for debit in planned.debits:
        card = debit.card
        version = checkout.versions[card.gift_card_id]
        common: dict[str, Any] = {"gift_card_id": card.gift_card_id, "amount": debit.amount, "expected_version": version,
                  "user_id": checkout.user_id, "today": today, "now": now, "label": f"card:{card.card_id}"}
        if authorize:
            authorizations.tx_hold_card(tx, program_id, **common)
        else:
            store.tx_debit_card(tx, program_id, **common)
        ledger.tx_append(tx, program_id, gift_card_id=card.gift_card_id, card_id=card.card_id, sequence=version + 1,
                         activity_type="HOLD" if authorize else "REDEEM", amount=-debit.amount,
                         balance_after=debit.balance_after, reference=payment_id, created_at=now,
                         hold_amount=debit.amount if authorize else None,
                         held_after=(card.held + debit.amount) if authorize else None,
                         label=f"activity:{card.card_id}")


def create_payment(body: PaymentCreate, idempotency_key: str | None, caller_key_id: str,
                   program_id: str) -> tuple[Payment, bool]:
    """Debit (or hold on) the shopper's cards for the items. Returns the payment and whether it is a replay
    of a payment already made under the same Idempotency-Key (which moves nothing)."""
    key = check_idempotency_key(idempotency_key, required=True, what="payment")
    assert key is not None  # noqa: S101 - required
    hashed = request_hash("payment", body.model_dump(mode="json"))
    claim_at = claim_key(program_id, "payment", key)
    first = first_reads(program_id, body, claim_at)
    claim = claimed(claim_at, hashed, found_in(first, claim_at))
    if claim is not None:
        return stored_payment(program_id, claim["payment_id"]), True

    checkout = read_wallet(program_id, body, first)
    payment_id = "pay_" + secrets.token_hex(12)
    authorize = not body.capture
    for attempt in attempts("payment", "nothing was charged"):
        if attempt:
            checkout = reread_cards(program_id, checkout)
        planned = plan(checkout)
        _refuse_short_plan(planned, body.allow_remainder)
        moment = datetime.now(timezone.utc)
        now = wallet.now_iso()
        expires = moment + timedelta(seconds=body.hold_seconds or DEFAULT_HOLD_SECONDS) if authorize else None
        record = _payment_record(payment_id, checkout, planned, now,
                                 {"key_id": caller_key_id, "program_id": program_id, "idempotency_key": key}, expires)
        tx = Transaction()
        store.tx_claim_idempotency(tx, claim_at, claim_record("payment", hashed, now, payment_id=payment_id))
        store.tx_put_payment(tx, program_id, record,
                             authorizations.expiry_index(program_id, payment_id, expires) if expires else None)
        _add_card_moves(tx, program_id, checkout, planned, payment_id, now, authorize)
        events.tx_put_event(tx, program_id, "payment.authorized" if authorize else "payment.captured",
                            Payment.from_record(record), now)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "idempotency" in failed:  # a request with the same key won the race: answer with its payment
                claim = claimed(claim_at, hashed)
                if claim is not None:
                    return stored_payment(program_id, claim["payment_id"]), True
            if failed or cancelled.contention:  # a card changed since it was read: plan again
                continue
            raise
        metrics.add_metric(name="PaymentAuthorized" if authorize else "PaymentCaptured", unit="Count", value=1)
        metrics.add_metric(name="PaymentAttempts", unit="Count", value=attempt + 1)
        logger.info("payment authorized" if authorize else "payment captured",
                    extra={"payment_id": payment_id, "amount": str(planned.payable), "cards": len(planned.debits),
                           "attempts": attempt + 1})
        return Payment.from_record(record), False
    raise AssertionError("unreachable: attempts raises when exhausted")
