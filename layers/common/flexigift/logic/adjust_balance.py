"""POST /gift_cards/{id}/activities: the card's issuer (or an admin) loads value onto a card or corrects its
balance, once per Idempotency-Key.

One conditional transaction holds the claim of the key, the card's balance move (version unchanged since it
was read, never below zero, never above the most a card may hold) and the ledger entry at the card's next
version: either all are stored or none. A lost race (the card changed since it was read) plans again from a
fresh read; a retry with the same key, after any crash, answers the stored entry and moves nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flexigift.api import Caller
from flexigift.errors import Conflict, InsufficientFunds, field_error
from flexigift.logic.gift_cards import load_card
from flexigift.logic.idempotency import check_idempotency_key, claim_key, claim_record, claimed, request_hash
from flexigift.logic.retries import attempts
from flexigift.models.checkout import BalanceActivity, BalanceActivityCreate, BalanceActivityType
from flexigift.models.common import MAX_MONEY, money_number
from flexigift.observability import logger, metrics
from flexigift.store import checkout as store
from flexigift.store import keys, ledger, wallet
from flexigift.store.table import Transaction, TransactionCancelled, get_item

OPERATION = "balance_activity"


def signed_amount(activity_type: BalanceActivityType, amount: Decimal) -> Decimal:
    return -amount if activity_type is BalanceActivityType.ADJUST_DECREMENT else amount


def _answer(entry: dict[str, Any]) -> BalanceActivity:
    return BalanceActivity.model_validate({**entry, "type": entry["activity_type"],
                                           "amount": money_number(Decimal(entry["amount"])),
                                           "balance_after": money_number(Decimal(entry["balance_after"])),
                                           "balance": money_number(Decimal(entry["balance_after"]))})


def _stored_answer(program_id: str, claim: dict[str, Any]) -> BalanceActivity:
    entry = get_item(keys.activity_key(program_id, int(claim["gift_card_id"]), int(claim["sequence"])))
    if entry is None:
        raise Conflict("A balance activity is recorded for this Idempotency-Key but cannot be read")
    return _answer(entry)


def _refuse(current: dict[str, Any], delta: Decimal) -> None:
    balance = Decimal(current["balance"])
    if balance + delta < 0:
        raise InsufficientFunds(
            f"Gift card '{current['card_id']}' holds {money_number(balance)}: a decrement of "
            f"{money_number(-delta)} would take it below zero; nothing was changed",
            fields=[field_error("amount", f"must be at most {money_number(balance)}", "below_zero")])
    if balance + delta > MAX_MONEY:
        raise Conflict(f"A gift card holds at most {MAX_MONEY}; this would make it {balance + delta}",
                               fields=[field_error("amount", f"must be at most {MAX_MONEY - balance}", "too_large")])


def record_activity(who: Caller, gift_card_id: int, body: BalanceActivityCreate,
                    idempotency_key: str | None) -> tuple[BalanceActivity, bool]:
    """Returns the entry with the card's new balance, and whether it is a replay of an earlier request."""
    key = check_idempotency_key(idempotency_key, required=True, what="balance activity")
    assert key is not None  # noqa: S101 - required=True refuses a missing key
    program_id = who.program_id
    hashed = request_hash(OPERATION, {"gift_card_id": gift_card_id, **body.model_dump(mode="json")})
    claim_at = claim_key(program_id, OPERATION, key)
    claim = claimed(claim_at, hashed)
    if claim is not None:
        return _stored_answer(program_id, claim), True
    delta = signed_amount(body.type, body.amount)
    for _ in attempts("balance activity", "nothing was changed"):
        current, version = load_card(who, gift_card_id)
        _refuse(current, delta)
        now = wallet.now_iso()
        balance_after = Decimal(current["balance"]) + delta
        entry = {"gift_card_id": gift_card_id, "card_id": current["card_id"], "sequence": version + 1,
                 "activity_type": body.type.value, "amount": delta, "balance_after": balance_after,
                 "reason": body.reason, "key_id": who.key_id, "created_at": now}
        tx = Transaction()
        store.tx_claim_idempotency(tx, claim_at, claim_record(OPERATION, hashed, now, gift_card_id=gift_card_id,
                                                              sequence=version + 1))
        store.tx_move_balance(tx, program_id, gift_card_id=gift_card_id, card_id=current["card_id"], delta=delta,
                              expected_version=version, now=now, label="card")
        ledger.tx_append(tx, program_id, gift_card_id=gift_card_id, card_id=current["card_id"],
                         sequence=version + 1, activity_type=body.type.value, amount=delta,
                         balance_after=balance_after, created_at=now, reason=body.reason, key_id=who.key_id)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if "idempotency" in tx.failed_labels(cancelled):  # the same key won a race: answer with its entry
                claim = claimed(claim_at, hashed)
                if claim is not None:
                    return _stored_answer(program_id, claim), True
            continue  # the card changed since it was read (or contention): plan again from a fresh read
        metrics.add_metric(name="BalanceActivity", unit="Count", value=1)
        logger.info("balance activity recorded", extra={"gift_card_id": gift_card_id, "type": body.type.value,
                                                        "amount": str(delta), "key_id": who.key_id})
        return _answer({**entry, **keys.activity_key(program_id, gift_card_id, version + 1)}), False
    raise AssertionError("unreachable: attempts raises when exhausted")
