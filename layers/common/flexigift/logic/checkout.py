"""Checkout: quote, pay and refund with the gift cards in a user's wallet.

Money moves only inside one DynamoDB transaction per request, whose conditions hold the rules (see
flexigift.store.checkout). What is read first only plans the transaction; if anything changed since,
a condition fails, the transaction writes nothing, and the request plans again from fresh reads, for a
bounded time. A payment's Idempotency-Key is claimed in the same transaction as its debits, so a retry
can never debit twice and a crash can never leave a key without its payment (or the reverse).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flexigift.errors import (
    CardUnusable,
    Conflict,
    InsufficientFunds,
    NotFound,
    RefundExceedsPayment,
    field_error,
)
from flexigift.logic import gift_cards
from flexigift.logic.allocation import CardFunds, Line, Plan, allocate, issuer_matches, unusable_reason
from flexigift.logic.idempotency import (
    IDEMPOTENCY_HEADER,
    check_idempotency_key,
    claim_key,
    claim_record,
    claimed,
    request_hash,
)
from flexigift.logic.retries import attempts
from flexigift.models.checkout import (
    Allocation,
    Payment,
    PaymentCreate,
    PaymentStatus,
    Quote,
    QuoteCard,
    QuoteLine,
    QuoteRequest,
    Refund,
    RefundCreate,
)
from flexigift.models.common import money_string
from flexigift.observability import logger, metrics
from flexigift.store import checkout as store
from flexigift.store import keys, ledger, wallet
from flexigift.store.table import Transaction, TransactionCancelled, batch_get, found_in

_PAYMENT_ID = re.compile(r"pay_[0-9a-f]{24}")

MAX_REFUNDS_PER_PAYMENT = 100


# --- reading what a checkout needs ---------------------------------------------------------------


@dataclass
class PricedLine:
    product: dict[str, Any]
    quantity: int

    @property
    def line(self) -> Line:
        return Line(product_id=self.product["product_id"], eligible_issuer=self.product["eligible_issuer"],
                    amount=Decimal(self.product["price"]) * self.quantity)


@dataclass
class Wallet:
    """What a quote or payment plans with: the user, priced items, and the cards with their versions."""

    user_id: str
    lines: list[PricedLine]
    cards: list[CardFunds]
    versions: dict[int, int]
    named: bool


def _funds(record: dict[str, Any]) -> CardFunds:
    return CardFunds(card_id=record["card_id"], gift_card_id=int(record["id"]), issuer=record["issuer"],
                     balance=Decimal(record["balance"]), expiry_date=str(record["expiry_date"]),
                     state=str(record.get("state", "ACTIVE")))


def _in_wallet(record: dict[str, Any], user_id: str) -> bool:
    return bool(record.get("linked")) and record.get("user_id") == user_id


def _first_reads(program_id: str, body: QuoteRequest, *extra: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """One BatchGetItem: the user's guard (it names the wallet's cards), each product's guard, and any
    `extra` item the caller needs (an Idempotency-Key claim)."""
    return batch_get([*extra, keys.unique_key(program_id, wallet.USER.name, body.user_id),
                      *(keys.unique_key(program_id, wallet.PRODUCT.name, item.product_id) for item in body.items)])


def _read_wallet(program_id: str, body: QuoteRequest, first: dict[tuple[str, str], dict[str, Any]] | None = None) -> Wallet:
    """The user, the products and the user's linked cards; unknown user or products are 404, named cards
    that are not in the wallet or cannot be used are refused before anything is planned.

    Two BatchGetItem requests: the guards of the natural ids (`first`, from _first_reads), then the
    products and cards they name. The user's guard carries the wallet (`wallet_cards`: card_id -> numeric
    id of each linked card), so the user item itself is not needed; a guard written before it carried the
    wallet is followed through the user item and the cards' guards instead."""
    first = _first_reads(program_id, body) if first is None else first
    missing = []
    user_guard = found_in(first, keys.unique_key(program_id, wallet.USER.name, body.user_id))
    if user_guard is None:
        missing.append(field_error("user_id", f"no user '{body.user_id}' is registered", "unknown_user"))
    product_guards = [found_in(first, keys.unique_key(program_id, wallet.PRODUCT.name, i.product_id)) for i in body.items]
    product_keys = [keys.entity_key(program_id, wallet.PRODUCT.name, int(g["ref_id"])) for g in product_guards if g]
    refs: dict[str, int] | None = None
    second_keys = list(product_keys)
    if user_guard is not None:
        if "wallet_cards" in user_guard:
            refs = {card_id: int(n) for card_id, n in user_guard["wallet_cards"].items()}
            second_keys += [keys.entity_key(program_id, wallet.CARD.name, n) for n in refs.values()]
        else:  # a guard from before the wallet was kept on it
            second_keys.append(keys.entity_key(program_id, wallet.USER.name, int(user_guard["ref_id"])))
    second = batch_get(second_keys) if second_keys else {}
    lines = []
    for position, (item, guard) in enumerate(zip(body.items, product_guards, strict=True)):
        found = wallet.record_of(wallet.PRODUCT, found_in(second, keys.entity_key(
            program_id, wallet.PRODUCT.name, int(guard["ref_id"])))) if guard else None
        if found is None:
            missing.append(field_error(f"items[{position}].product_id",
                                       f"no product '{item.product_id}' is registered", "unknown_product"))
        else:
            lines.append(PricedLine(product=found[0], quantity=item.quantity))
    if user_guard is not None and refs is None:
        user = wallet.record_of(wallet.USER, found_in(second, keys.entity_key(program_id, wallet.USER.name,
                                                                              int(user_guard["ref_id"]))))
        if user is None:
            missing.insert(0, field_error("user_id", f"no user '{body.user_id}' is registered", "unknown_user"))
        else:
            refs = {c: int(g["ref_id"]) for c, g in wallet.guards(program_id, wallet.CARD, user[0].get("gift_cards", [])).items()}
            second.update(batch_get([keys.entity_key(program_id, wallet.CARD.name, n) for n in refs.values()]) if refs else {})
    if missing:
        raise NotFound("Unknown " + " and ".join(sorted({f["type"].removeprefix("unknown_") for f in missing})),
                       fields=missing)
    assert refs is not None
    records: dict[str, tuple[dict[str, Any], int]] = {}
    for card_id, number in refs.items():
        found = wallet.record_of(wallet.CARD, found_in(second, keys.entity_key(program_id, wallet.CARD.name, number)))
        if found is not None and found[0]["card_id"] == card_id and _in_wallet(found[0], body.user_id):
            records[card_id] = found
    if body.cards is not None:
        records = _named_cards(body.cards, records, [pl.line for pl in lines])
    return Wallet(user_id=body.user_id, lines=lines, cards=[_funds(r) for r, _ in records.values()],
                  versions={int(r["id"]): v for r, v in records.values()}, named=body.cards is not None)


def _named_cards(named: list[str], records: dict[str, tuple[dict[str, Any], int]],
                 lines: list[Line]) -> dict[str, tuple[dict[str, Any], int]]:
    """The caller's chosen cards, in the caller's order; each must be in the wallet, usable, and able to
    pay for at least one of the items."""
    unknown, useless, unusable = [], [], []
    today = gift_cards.today()
    for position, card_id in enumerate(named):
        field = f"cards[{position}]"
        if card_id not in records:
            unknown.append(field_error(field, f"gift card '{card_id}' is not linked to this user's wallet",
                                       "not_in_wallet"))
            continue
        funds = _funds(records[card_id][0])
        reason = unusable_reason(funds, today)
        if reason:
            unusable.append(field_error(field, f"gift card '{card_id}' {reason}", "card_unusable"))
        elif not any(issuer_matches(funds, line) for line in lines):
            useless.append(field_error(field, f"gift card '{card_id}' ({funds.issuer}) cannot pay for any of "
                                              "these items", "issuer_mismatch"))
    if unknown:  # names a card the user's wallet does not hold
        raise NotFound("Some of the named cards are not in this user's wallet", fields=unknown + useless)
    if useless:  # the cards exist, but their issuer cannot pay for these items: a conflict with their state
        raise Conflict("Some of the named cards cannot pay for any of these items", fields=useless)
    if unusable:
        raise CardUnusable("Some of the named cards cannot be debited: " +
                           "; ".join(f["message"] for f in unusable), fields=unusable)
    return {card_id: records[card_id] for card_id in named}


def _reread_cards(program_id: str, current: Wallet) -> Wallet:
    """Fresh reads of the planned cards after a lost race (by numeric id: one BatchGetItem)."""
    fresh = batch_get([keys.entity_key(program_id, wallet.CARD.name, f.gift_card_id) for f in current.cards])
    cards, versions = [], {}
    for funds in current.cards:
        found = wallet.record_of(wallet.CARD, found_in(fresh, keys.entity_key(program_id, wallet.CARD.name, funds.gift_card_id)))
        if found is None or not _in_wallet(found[0], current.user_id):
            if current.named:
                raise CardUnusable(f"gift card '{funds.card_id}' left the wallet during this payment",
                                   fields=[field_error("cards", f"'{funds.card_id}' is no longer linked",
                                                       "card_unusable")])
            continue
        record, version = found
        cards.append(_funds(record))
        versions[int(record["id"])] = version
    return Wallet(user_id=current.user_id, lines=current.lines, cards=cards, versions=versions,
                  named=current.named)


def _plan(checkout: Wallet) -> Plan:
    return allocate([pl.line for pl in checkout.lines], checkout.cards, gift_cards.today(), named=checkout.named)


def _amount(value: Decimal) -> str:
    return money_string(value)


# --- quote ---------------------------------------------------------------------------------------


def _allocations(plan: Plan) -> list[dict[str, Any]]:
    return [{"card_id": d.card.card_id, "gift_card_id": d.card.gift_card_id, "amount": d.amount,
             "balance_after": d.balance_after} for d in plan.debits]


def quote(program_id: str, body: QuoteRequest) -> Quote:
    """What the user's gift cards can pay for these items, and what would remain. Reads only."""
    checkout = _read_wallet(program_id, body)
    plan = _plan(checkout)
    lines = []
    for priced, line_plan in zip(checkout.lines, plan.lines, strict=True):
        lines.append(QuoteLine(
            product_id=priced.product["product_id"], name=priced.product["name"],
            eligible_issuer=priced.product["eligible_issuer"], quantity=priced.quantity,
            unit_price=Decimal(priced.product["price"]), amount=line_plan.line.amount,
            payable_by_gift_cards=line_plan.paid, remainder_due=line_plan.remainder,
            cards=[QuoteCard(card_id=c.card_id, gift_card_id=c.gift_card_id, issuer=c.issuer, balance=c.balance,
                             expiry_date=c.expiry_date) for c in line_plan.eligible],
        ))
    return Quote(user_id=body.user_id, items=lines, total=plan.total, payable_by_gift_cards=plan.payable,
                 remainder_due=plan.remainder,
                 allocations=[Allocation.from_record(a) for a in _allocations(plan)])


# --- payments ------------------------------------------------------------------------------------


def _refuse_short_plan(plan: Plan, allow_remainder: bool) -> None:
    if plan.payable > 0 and (allow_remainder or plan.remainder == 0):
        return
    fields = [field_error(f"items[{i}]", f"{lp.line.eligible_issuer} gift cards can pay {_amount(lp.paid)} of "
                                         f"{_amount(lp.line.amount)}", "insufficient_funds")
              for i, lp in enumerate(plan.lines) if lp.remainder > 0]
    if plan.payable == 0:
        raise InsufficientFunds(f"None of the user's gift cards can pay for these items (total "
                                f"{_amount(plan.total)}); nothing was charged", fields=fields)
    raise InsufficientFunds(
        f"The user's gift cards can pay {_amount(plan.payable)} of {_amount(plan.total)}, leaving "
        f"{_amount(plan.remainder)}; nothing was charged. Send allow_remainder: true to capture "
        f"{_amount(plan.payable)} and collect the rest by other means", fields=fields)


def _payment_record(payment_id: str, checkout: Wallet, plan: Plan, now: str, who: dict[str, str]) -> dict[str, Any]:
    items = []
    for priced, line_plan in zip(checkout.lines, plan.lines, strict=True):
        items.append({"product_id": priced.product["product_id"], "name": priced.product["name"],
                      "eligible_issuer": priced.product["eligible_issuer"], "quantity": priced.quantity,
                      "unit_price": Decimal(priced.product["price"]), "amount": line_plan.line.amount,
                      "paid_by_gift_cards": line_plan.paid, "remainder_due": line_plan.remainder})
    return {
        "id": payment_id, "status": PaymentStatus.CAPTURED.value, "amount": plan.payable, "total": plan.total,
        "remainder_due": plan.remainder,
        "allocations": [{**a, "refunded": Decimal("0")} for a in _allocations(plan)],
        "refunded_amount": Decimal("0"), "refund_count": 0, "user_id": checkout.user_id, "items": items,
        "created_at": now, "updated_at": now, **who,
    }


def _stored_payment(program_id: str, payment_id: str) -> Payment:
    found = store.get_payment_with_refunds(program_id, payment_id)
    if found is None:
        raise Conflict(f"Payment {payment_id} is recorded for this {IDEMPOTENCY_HEADER} but cannot be read")
    return Payment.from_record(*found)


def create_payment(body: PaymentCreate, idempotency_key: str | None, caller_key_id: str,
                   program_id: str) -> tuple[Payment, bool]:
    """Debit the user's cards for the items. Returns the payment and whether it is a replay of a payment
    already made under the same Idempotency-Key (which debits nothing)."""
    key = check_idempotency_key(idempotency_key, required=True, what="payment")
    assert key is not None
    hashed = request_hash("payment", body.model_dump(mode="json"))
    claim_at = claim_key(program_id, "payment", key)
    first = _first_reads(program_id, body, claim_at)
    claim = claimed(claim_at, hashed, found_in(first, claim_at))
    if claim is not None:
        return _stored_payment(program_id, claim["payment_id"]), True

    checkout = _read_wallet(program_id, body, first)
    payment_id = "pay_" + secrets.token_hex(12)
    for attempt in attempts("payment", "nothing was charged"):
        if attempt:
            checkout = _reread_cards(program_id, checkout)
        plan = _plan(checkout)
        _refuse_short_plan(plan, body.allow_remainder)
        now, today = wallet.now_iso(), gift_cards.today().isoformat()
        record = _payment_record(payment_id, checkout, plan, now,
                                 {"key_id": caller_key_id, "program_id": program_id, "idempotency_key": key})
        tx = Transaction()
        store.tx_claim_idempotency(tx, claim_at, claim_record("payment", hashed, now, payment_id=payment_id))
        store.tx_put_payment(tx, program_id, record)
        for debit in plan.debits:
            card = debit.card
            version = checkout.versions[card.gift_card_id]
            store.tx_debit_card(tx, program_id, gift_card_id=card.gift_card_id, amount=debit.amount, expected_version=version,
                                user_id=checkout.user_id, today=today, now=now, label=f"card:{card.card_id}")
            ledger.tx_append(tx, program_id, gift_card_id=card.gift_card_id, card_id=card.card_id, sequence=version + 1,
                             activity_type="REDEEM", amount=-debit.amount, balance_after=debit.balance_after,
                             reference=payment_id, created_at=now, label=f"activity:{card.card_id}")
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "idempotency" in failed:  # a request with the same key won the race: answer with its payment
                claim = claimed(claim_at, hashed)
                if claim is not None:
                    return _stored_payment(program_id, claim["payment_id"]), True
            if failed or cancelled.contention:  # a card changed since it was read: plan again
                continue
            raise
        metrics.add_metric(name="PaymentCaptured", unit="Count", value=1)
        metrics.add_metric(name="PaymentAttempts", unit="Count", value=attempt + 1)
        logger.info("payment captured", extra={"payment_id": payment_id, "amount": str(plan.payable),
                                               "cards": len(plan.debits), "attempts": attempt + 1})
        return Payment.from_record(record), False
    raise AssertionError("unreachable: attempts raises when exhausted")


def get_payment(payment_id: str, program_id: str) -> Payment:
    found = store.get_payment_with_refunds(program_id, payment_id) if _PAYMENT_ID.fullmatch(payment_id) else None
    if found is None or found[0].get("program_id") != program_id:
        raise NotFound(f"No payment with id {payment_id}")
    return Payment.from_record(*found)


# --- refunds -------------------------------------------------------------------------------------


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
    valid_id = _PAYMENT_ID.fullmatch(payment_id) is not None
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
        captured, refunded = Decimal(payment["amount"]), Decimal(payment.get("refunded_amount", 0))
        refundable = captured - refunded
        if refundable <= 0:
            raise RefundExceedsPayment(f"Payment {payment_id} is already fully refunded ({_amount(captured)})",
                                       fields=[field_error("amount", "nothing is left to refund", "fully_refunded")])
        amount = body.amount if body.amount is not None else refundable
        if amount > refundable:
            raise RefundExceedsPayment(
                f"At most {_amount(refundable)} of payment {payment_id} can be refunded ({_amount(captured)} "
                f"captured, {_amount(refunded)} already refunded)",
                fields=[field_error("amount", f"must be at most {_amount(refundable)}", "exceeds_refundable")])
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
                raise Conflict(f"Gift card '{allocation['card_id']}' was deleted, so {_amount(credit)} of this "
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
