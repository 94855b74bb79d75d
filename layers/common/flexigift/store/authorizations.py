"""Storage of authorizations: the holds a payment places on cards instead of capturing, how they close
(captured, voided, expired), and the index the expiry sweep reads. Functions named tx_* add one item to a
Transaction; logic plans and commits it.

A hold is money that has left the card's spendable `balance` and sits in its `held` total until the
authorization closes. The ledger follows the balance exactly:
  HOLD     amount -x (balance - x, held + x), when the payment is authorized
  CAPTURE  amount  0 (the money already left the balance; held - captured, refundable + captured)
  RELEASE  amount +y (balance + y, held - y), for a void, the expiry, or the unused part of a partial capture
so the entries' amounts still sum to the balance, and `held` equals the card's open holds.

The conditions here are the rules:
  hold     as a payment's debit (store.checkout.tx_debit_card): version, balance, state, expiry, wallet
  settle   version unchanged, the same card_id, and the card still holds at least this hold (any state)
  close    the payment is still `authorized`; capture: not yet expired; the sweep: expired
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flexigift.aws import dynamodb
from flexigift.store import keys
from flexigift.store.checkout import tx_spend
from flexigift.store.table import (
    ConditionFailed,
    Transaction,
    from_attr,
    get_item,
    table_name,
    to_attr,
    update_item,
    values,
)

AUTHORIZED = "authorized"
_MINUTE = "%Y-%m-%dT%H:%M"


def minute_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(_MINUTE)


def minutes_between(first: str, last: str) -> list[str]:
    """Every minute from `first` to `last`, both included (empty if first is after last)."""
    start = datetime.strptime(first, _MINUTE).replace(tzinfo=timezone.utc)
    end = datetime.strptime(last, _MINUTE).replace(tzinfo=timezone.utc)
    found = []
    while start <= end:
        found.append(minute_of(start))
        start += timedelta(minutes=1)
    return found


def shard_of(payment_id: str) -> int:
    """The payment's index shard: its id is random hex, so its last digits spread payments evenly."""
    return int(payment_id[-4:], 16) % keys.HOLD_SHARDS


def expiry_index(program_id: str, payment_id: str, expires: datetime) -> dict[str, str]:
    """Index attributes of an authorized payment (GSI1, removed when it closes: a sparse index of open
    authorizations by the minute they expire)."""
    expires_at = expires.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"GSI1PK": keys.hold_expiry_partition(minute_of(expires), shard_of(payment_id)),
            "GSI1SK": keys.hold_expiry_sort(expires_at, program_id, payment_id)}


# --- card holds ----------------------------------------------------------------------------------


def tx_hold_card(tx: Transaction, program_id: str, *, gift_card_id: int, amount: Decimal, expected_version: int,
                 user_id: str, today: str, now: str, label: str) -> None:
    """Hold `amount` on a card for an authorization: it leaves the spendable balance at once (nothing else
    can spend it) and joins `held`, under every rule of spending a debit has. `money_moved` fixes the card's
    identity from now on."""
    tx_spend(tx, program_id, gift_card_id=gift_card_id, amount=amount, expected_version=expected_version,
             user_id=user_id, today=today, now=now, label=label, accrue="held")


def tx_settle_hold(tx: Transaction, program_id: str, *, gift_card_id: int, card_id: str, hold: Decimal,
                   captured: Decimal, entries: int, expected_version: int, now: str, label: str) -> None:
    """Close one card's hold: `captured` of it becomes the payment's (refundable from now on), the rest goes
    back to the balance. Allowed whatever the card's state or expiry: the money is the holder's, or the
    merchant's once captured. `entries` is how many ledger entries record it (the version moves by as many)."""
    released = hold - captured
    tx.update(
        label, keys.entity_key(program_id, "CARD", gift_card_id),
        "SET #bal = #bal + :released, #v = #v + :steps, #upd = :now ADD #held :minus, #rf :captured",
        condition="attribute_exists(PK) AND #v = :version AND #cid = :cid AND #held >= :hold",
        names={"#bal": "balance", "#v": "version", "#upd": "updated_at", "#cid": "card_id", "#held": "held",
               "#rf": "refundable"},
        vals={"released": released, "steps": entries, "now": now, "minus": -hold, "captured": captured,
              "version": expected_version, "cid": card_id, "hold": hold},
    )


# --- the payment ---------------------------------------------------------------------------------


def tx_close(tx: Transaction, program_id: str, payment_id: str, changes: dict[str, Any], *, now_epoch: int,
             expiry: str) -> None:
    """Close an authorization: set `changes` (its new status and totals) and leave the expiry index, only if
    it is still authorized. `expiry`: "unexpired" (a capture), "expired" (the sweep) or "any" (a void).
    Label 'payment'."""
    names = {"#st": "status", "#exp": "hold_expires_epoch"}
    vals: dict[str, Any] = {"authorized": AUTHORIZED}
    sets = []
    for i, (name, value) in enumerate(sorted(changes.items())):
        names[f"#c{i}"], vals[f"c{i}"] = name, value
        sets.append(f"#c{i} = :c{i}")
    condition = "#st = :authorized"
    if expiry == "unexpired":
        condition += " AND #exp > :now"
        vals["now"] = now_epoch
    elif expiry == "expired":
        condition += " AND #exp <= :now"
        vals["now"] = now_epoch
    else:
        names.pop("#exp")
    tx.update("payment", keys.payment_key(program_id, payment_id), "SET " + ", ".join(sets) + " REMOVE GSI1PK, GSI1SK",
              condition=condition, names=names, vals=vals)


# --- the expiry sweep ----------------------------------------------------------------------------


def expiring(minute: str, shard: int, until: str, start: dict[str, Any] | None = None,
             ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of the open authorizations of one expiry minute and shard whose holds expire at or before
    `until` (an ISO instant): (program_id, id, hold_expires_epoch) of each, and where the next page starts."""
    kwargs: dict[str, Any] = {
        "TableName": table_name(), "IndexName": "GSI1",
        "KeyConditionExpression": "#pk = :pk AND #sk <= :until",
        "ExpressionAttributeNames": {"#pk": "GSI1PK", "#sk": "GSI1SK"},
        "ExpressionAttributeValues": values(pk=keys.hold_expiry_partition(minute, shard), until=until + "#~"),
        "Limit": 100,
    }
    if start:
        kwargs["ExclusiveStartKey"] = to_attr(start)
    response = dynamodb().query(**kwargs)
    found = []
    for raw in response.get("Items", []):
        item = from_attr(raw)
        found.append({"program_id": item["program_id"], "id": item["id"],
                      "hold_expires_epoch": int(item["hold_expires_epoch"])})
    last = response.get("LastEvaluatedKey")
    return found, (from_attr(last) if last else None)


def sweep_position() -> str | None:
    """The first minute the next sweep must read (None: never swept)."""
    item = get_item(keys.hold_sweep_key())
    return str(item["next_minute"]) if item else None


def save_sweep_position(next_minute: str, now: str) -> bool:
    """Move the sweep's position forward (never back: a slower concurrent run cannot undo a faster one)."""
    try:
        update_item(keys.hold_sweep_key(), "SET next_minute = :m, updated_at = :now",
                    "attribute_not_exists(PK) OR next_minute <= :m", vals={"m": next_minute, "now": now})
    except ConditionFailed:
        return False
    return True
