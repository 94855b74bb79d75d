"""Storage of a gift card's ledger: one append-only item per balance change, in the card's partition.

An entry is only ever written in the same transaction as the balance change it records, with
attribute_not_exists(PK) so it can never overwrite another. Its sort key carries the card's version after
the change; every write to a card moves the version by exactly one under a `version = :expected`
condition, so entries are ordered as the balance moved and two writers cannot claim the same position.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flexigift.aws import dynamodb
from flexigift.errors import InvalidCursor
from flexigift.store import keys
from flexigift.store.table import Query, Transaction, from_attr, query_page, table_name, to_attr, values
from flexigift.store.wallet import decode_cursor, encode_cursor

ITEM_TYPE = "ACTIVITY"


def tx_append(tx: Transaction, program_id: str, *, gift_card_id: int, card_id: str, sequence: int, activity_type: str,
              amount: Decimal, balance_after: Decimal, created_at: str, reference: str | None = None,
              refund_id: str | None = None, reason: str | None = None, key_id: str | None = None,
              hold_amount: Decimal | None = None, held_after: Decimal | None = None,
              label: str = "activity") -> None:
    """Add a ledger entry to a transaction. `amount` is signed: what the balance changed by. Entries of an
    authorization (HOLD, CAPTURE, RELEASE) also say which part of the hold they concern and the card's open
    holds after them. Its `gift_card.balance_changed` event (the entry as the ledger shows it) joins the same
    transaction."""
    item = {
        **keys.activity_key(program_id, gift_card_id, sequence),
        "type": ITEM_TYPE,
        "gift_card_id": gift_card_id,
        "card_id": card_id,
        "sequence": sequence,
        "activity_type": activity_type,
        "amount": amount,
        "balance_after": balance_after,
        "reference": reference,
        "refund_id": refund_id,
        "reason": reason,
        "key_id": key_id,
        "hold_amount": hold_amount,
        "held_after": held_after,
        "created_at": created_at,
    }
    tx.put(label, item, condition="attribute_not_exists(PK)")
    # every ledger entry is a balance change the card's program hears of, in the same transaction
    from flexigift.models.checkout import Activity
    from flexigift.store import events

    events.tx_put_event(tx, program_id, "gift_card.balance_changed", Activity.from_record(item), created_at,
                        label=f"event:{label}")


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}


def list_page(program_id: str, gift_card_id: int, activity_type: str | None, limit: int,
              cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a card's ledger, oldest first; optionally only one type of activity."""
    partition = keys.activity_key(program_id, gift_card_id, 0)["PK"]
    start = decode_cursor(cursor, {"PK", "SK"}, ("PK", partition)) if cursor else None
    if start is not None and not start["SK"].startswith(keys.ACTIVITY_PREFIX):
        raise InvalidCursor("cursor does not belong to this listing; use the Link header of the previous page")
    filters = {"activity_type": activity_type} if activity_type else {}
    items, last = query_page(Query(index=None, pk_name="PK", pk_value=partition, limit=limit, start_key=start,
                                   filters=filters, sk_name="SK", sk_prefix=keys.ACTIVITY_PREFIX))
    return [_record(i) for i in items], (encode_cursor(last) if last else None)


def page_with_card(program_id: str, gift_card_id: int, activity_type: str | None, limit: int,
                   cursor: str | None) -> tuple[dict[str, Any] | bool | None, list[dict[str, Any]], str | None]:
    """One page of a card's ledger and, in the same strongly consistent Query, the card (False: no such card).

    The card item (SK `CARD`) sorts after every entry (`ACTIVITY#...`) of its partition, so a Query of
    `SK BETWEEN ACTIVITY# AND CARD` with one item more than the page ends with the card whenever the rest
    of the ledger fits in the page. Returns (exists, entries, next cursor); exists is None when the page
    ended before reaching the card (a longer ledger), and the caller must ask. The ledger outlives a
    deleted card, so entries alone do not prove the card exists. The card comes back as its record (for
    the caller's issuer check), False when the card is known not to exist."""
    partition = keys.activity_key(program_id, gift_card_id, 0)["PK"]
    start = decode_cursor(cursor, {"PK", "SK"}, ("PK", partition)) if cursor else None
    if start is not None and not start["SK"].startswith(keys.ACTIVITY_PREFIX):
        raise InvalidCursor("cursor does not belong to this listing; use the Link header of the previous page")
    card_sk = keys.entity_key(program_id, "CARD", gift_card_id)["SK"]
    names = {"#pk": "PK", "#sk": "SK"}
    vals: dict[str, Any] = {"pk": partition, "first": keys.ACTIVITY_PREFIX, "card": card_sk}
    kwargs: dict[str, Any] = {
        "TableName": table_name(), "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :first AND :card",
        "ConsistentRead": True, "Limit": limit + 1,
    }
    if activity_type:
        names.update({"#at": "activity_type", "#t": "type"})
        vals.update({"at": activity_type, "cardtype": "CARD"})
        kwargs["FilterExpression"] = "#at = :at OR #t = :cardtype"
    if start:
        kwargs["ExclusiveStartKey"] = to_attr(start)
    response = dynamodb().query(ExpressionAttributeNames=names, ExpressionAttributeValues=values(**vals), **kwargs)
    items = [from_attr(i) for i in response.get("Items", [])]
    last = response.get("LastEvaluatedKey")
    card = next((i for i in items if i["SK"] == card_sk), None)
    entries = [i for i in items if i["SK"].startswith(keys.ACTIVITY_PREFIX)]
    if len(entries) > limit:  # more follow: the next page starts after this page's last entry
        entries = entries[:limit]
        next_key: dict[str, Any] | None = {"PK": entries[-1]["PK"], "SK": entries[-1]["SK"]}
    else:
        next_key = from_attr(last) if last and card is None else None
    found: dict[str, Any] | bool | None = None
    if card is not None and card.get("type") == "CARD":
        found = _record(card)
    elif card is not None or next_key is None:
        found = False
    return found, [_record(i) for i in entries], (encode_cursor(next_key) if next_key else None)


def all_entries(program_id: str, gift_card_id: int) -> list[dict[str, Any]]:
    """The whole ledger of a card, read consistently (reconciliation and tests)."""
    partition = keys.activity_key(program_id, gift_card_id, 0)["PK"]
    entries: list[dict[str, Any]] = []
    start = None
    while True:
        items, start = query_page(Query(index=None, pk_name="PK", pk_value=partition, limit=100, start_key=start,
                                        sk_name="SK", sk_prefix=keys.ACTIVITY_PREFIX, consistent=True))
        entries.extend(_record(i) for i in items)
        if start is None:
            return entries
