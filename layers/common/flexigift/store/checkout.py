"""Storage of checkout: payments, their refunds, Idempotency-Keys, and the conditional card debits and
credits that move money. Functions named tx_* add one item to a Transaction; logic commits it.

The conditions here are the rules of money, held by DynamoDB at the moment of the write rather than
by the code that read the card earlier:
  debit   version unchanged, balance >= amount, state ACTIVE, not expired, linked to this user
  credit  version unchanged (a refund may go to an expired or blocked card: the money is the user's)
  refund  the payment's refund count unchanged, its refunded total leaves room for this refund, and it is
          captured (an authorization is refunded by voiding it)
Holds of an authorization (HOLD, CAPTURE, RELEASE) are in store.authorizations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flexigift.store import keys
from flexigift.store.table import Query, Transaction, get_item, query_page

PAYMENT_TYPE = "PAYMENT"
REFUND_TYPE = "REFUND"
IDEMPOTENCY_TYPE = "IDEMPOTENCY"


_INTERNAL = {"PK", "SK", "type"} | {f"{i}{p}" for i in keys.INDEXES for p in ("PK", "SK")}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL}


# --- idempotency ---------------------------------------------------------------------------------


def get_idempotency(key: dict[str, str]) -> dict[str, Any] | None:
    return claim_record(get_item(key))


def claim_record(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An Idempotency-Key claim as read (by get_idempotency or in a BatchGetItem)."""
    return _record(item) if item else None


def tx_claim_idempotency(tx: Transaction, key: dict[str, str], record: dict[str, Any]) -> None:
    """Claim an Idempotency-Key in the same transaction as the effect it guards: either both are
    stored or neither is. Label 'idempotency' fails if the key was claimed first."""
    tx.put("idempotency", {**key, "type": IDEMPOTENCY_TYPE, **record}, condition="attribute_not_exists(PK)")


# --- payments and refunds ------------------------------------------------------------------------


def tx_put_payment(tx: Transaction, program_id: str, record: dict[str, Any],
                   index: dict[str, str] | None = None) -> None:
    """A new payment; `index` adds index attributes (an authorization's expiry, store.authorizations)."""
    tx.put("payment", {**keys.payment_key(program_id, record["id"]), "type": PAYMENT_TYPE, **record, **(index or {})},
           condition="attribute_not_exists(PK)")


def get_payment(program_id: str, payment_id: str) -> dict[str, Any] | None:
    return payment_record(get_item(keys.payment_key(program_id, payment_id)))


def payment_record(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A payment as read (by get_payment or in a BatchGetItem)."""
    return _record(item) if item and item.get("type") == PAYMENT_TYPE else None


def get_payment_with_refunds(program_id: str,
                             payment_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A payment and its refunds (oldest first), read consistently with one Query of its partition."""
    partition = keys.payment_key(program_id, payment_id)["PK"]
    payment, refunds, start = None, [], None
    while True:
        items, start = query_page(Query(index=None, pk_name="PK", pk_value=partition, limit=100,
                                        start_key=start, consistent=True))
        for item in items:
            if item.get("type") == PAYMENT_TYPE:
                payment = _record(item)
            elif item.get("type") == REFUND_TYPE:
                refunds.append(_record(item))
        if start is None:
            break
    if payment is None:
        return None
    refunds.sort(key=lambda r: int(r["sequence"]))
    return payment, refunds


def get_refund(program_id: str, payment_id: str, sequence: int) -> dict[str, Any] | None:
    item = get_item(keys.refund_key(program_id, payment_id, sequence))
    return _record(item) if item else None


def tx_record_refund(tx: Transaction, program_id: str, payment: dict[str, Any], refund: dict[str, Any],
                     allocations: list[dict[str, Any]], status: str) -> None:
    """Add a refund to its payment: the payment's totals move under a condition on what was read
    (refund_count) and on the rule itself (refunded_amount <= amount - this refund), and the refund
    item is written beside it. Labels: 'payment', 'refund'."""
    count = int(payment.get("refund_count", 0))
    amount = Decimal(refund["amount"])
    tx.update(
        "payment", keys.payment_key(program_id, payment["id"]),
        "SET #ref = #ref + :amount, #cnt = :next, #alloc = :alloc, #st = :status, #upd = :now",
        condition="#cnt = :count AND #ref <= :limit AND #st IN (:captured, :partial)",
        names={"#ref": "refunded_amount", "#cnt": "refund_count", "#alloc": "allocations", "#st": "status",
               "#upd": "updated_at"},
        vals={"amount": amount, "next": count + 1, "count": count, "limit": Decimal(payment["amount"]) - amount,
              "alloc": allocations, "status": status, "now": refund["created_at"], "captured": "captured",
              "partial": "partially_refunded"},
    )
    tx.put("refund", {**keys.refund_key(program_id, payment["id"], int(refund["sequence"])), "type": REFUND_TYPE,
                      **refund},
           condition="attribute_not_exists(PK)")


# --- card balance moves --------------------------------------------------------------------------


def tx_debit_card(tx: Transaction, program_id: str, *, gift_card_id: int, amount: Decimal, expected_version: int,
                  user_id: str, today: str, now: str, label: str) -> None:
    """Take `amount` off a card for a payment, only if every rule of spending still holds when DynamoDB
    writes it. The card's `refundable` (what its payments may still credit back) grows by the amount, and
    `money_moved` fixes its identity from now on (gift_cards: card_id, issuer and owner stay)."""
    tx_spend(tx, program_id, gift_card_id=gift_card_id, amount=amount, expected_version=expected_version,
             user_id=user_id, today=today, now=now, label=label, accrue="refundable")


def tx_spend(tx: Transaction, program_id: str, *, gift_card_id: int, amount: Decimal, expected_version: int,
             user_id: str, today: str, now: str, label: str, accrue: str) -> None:
    """`amount` leaves a card's balance under every rule of spending (version unchanged, enough balance, ACTIVE,
    not expired, linked to this user) and is added to `accrue`: `refundable` for a captured debit, `held`
    for an authorization's hold."""
    tx.update(
        label, keys.entity_key(program_id, "CARD", gift_card_id),
        "SET #bal = #bal - :amount, #v = #v + :one, #upd = :now, #mm = :yes ADD #acc :amount",
        condition=("#v = :version AND #bal >= :amount AND #st = :active AND #exp >= :today "
                   "AND #linked = :yes AND #uid = :uid"),
        names={"#bal": "balance", "#v": "version", "#upd": "updated_at", "#st": "state", "#exp": "expiry_date",
               "#linked": "linked", "#uid": "user_id", "#mm": "money_moved", "#acc": accrue},
        vals={"amount": amount, "one": 1, "now": now, "version": expected_version, "active": "ACTIVE",
              "today": today, "yes": True, "uid": user_id},
    )


def tx_credit_card(tx: Transaction, program_id: str, *, gift_card_id: int, card_id: str, amount: Decimal,
                   expected_version: int, now: str, label: str) -> None:
    """Give `amount` of a payment back to the card it debited (a refund): allowed whatever the card's state or
    expiry (the money is the holder's), only to the same card_id, and never more than its payments may
    still credit back."""
    tx.update(
        label, keys.entity_key(program_id, "CARD", gift_card_id),
        "SET #bal = #bal + :amount, #v = #v + :one, #upd = :now ADD #rf :minus",
        condition="attribute_exists(PK) AND #v = :version AND #cid = :cid AND #rf >= :amount",
        names={"#bal": "balance", "#v": "version", "#upd": "updated_at", "#cid": "card_id", "#rf": "refundable"},
        vals={"amount": amount, "minus": -amount, "one": 1, "now": now, "version": expected_version, "cid": card_id},
    )


def tx_move_balance(tx: Transaction, program_id: str, *, gift_card_id: int, card_id: str, delta: Decimal,
                    expected_version: int, now: str, label: str) -> None:
    """A balance activity of the card's issuer (LOAD, ADJUST_INCREMENT: delta > 0; ADJUST_DECREMENT: delta < 0):
    the balance moves by `delta` and never below zero, whatever the card's state, on the card as read."""
    tx.update(
        label, keys.entity_key(program_id, "CARD", gift_card_id),
        "SET #bal = #bal + :delta, #v = #v + :one, #upd = :now, #mm = :yes",
        condition="attribute_exists(PK) AND #v = :version AND #cid = :cid AND #bal >= :floor",
        names={"#bal": "balance", "#v": "version", "#upd": "updated_at", "#cid": "card_id", "#mm": "money_moved"},
        vals={"delta": delta, "one": 1, "now": now, "version": expected_version, "cid": card_id, "yes": True,
              "floor": max(-delta, Decimal("0"))},
    )
