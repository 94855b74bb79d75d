"""Storage of the wallet registry: users, gift cards, products.

Every function takes the caller's program first: each key is built from it (store.keys), so nothing here
can read or write another program's records.

Each record lives at PK=P#<program>#<KIND>#<id>, SK=<KIND>. Its natural identifier (user_id, card_id,
product_id) is made unique in its program by a guard item P#<program>#UNIQUE#<KIND>#<natural id> written
in the same transaction. The user's guard
item also counts the gift cards registered to that user_id, so a user with cards cannot vanish under
them. Functions named tx_* add items to a Transaction; the caller commits it and reads the labels of
the items whose condition failed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from flexigift.errors import InvalidCursor
from flexigift.store import keys
from flexigift.store.listing import Listing, cursor_payload, page
from flexigift.store.table import (
    ConditionFailed,
    Transaction,
    batch_get,
    found_in,
    get_item,
    next_counter,
    update_item,
)


def _casefold(value: str) -> str:
    return value.casefold()


@dataclass(frozen=True)
class Kind:
    name: str                       # key prefix: USER, CARD, PRODUCT
    natural: str                    # the natural identifier's attribute
    lookups: dict[str, str]         # filterable attribute -> index holding it
    normalise: dict[str, Callable[[str], str]]

    def index_value(self, program_id: str, attribute: str, value: str) -> str:
        """The listing of a lookup (unsharded name)."""
        fold = self.normalise.get(attribute)
        return keys.index_partition(program_id, self.name, attribute, fold(value) if fold else value)

    def normalised(self, attribute: str, value: Any) -> str:
        fold = self.normalise.get(attribute)
        return fold(str(value)) if fold else str(value)

    def listing(self, program_id: str, attribute: str | None, value: str | None = None) -> Listing:
        """The type listing (attribute None) or a lookup, as the index stores it."""
        if attribute is None:
            return Listing("GSI1", keys.index_partition(program_id, self.name, None, None), sharded=True)
        return Listing(self.lookups[attribute], self.index_value(program_id, attribute, str(value)),
                       sharded=(self.name, attribute) in keys.SHARDED_LOOKUPS)

    def index_key(self, program_id: str, attribute: str | None, value: Any, numeric_id: int) -> str:
        """The index partition key a record with this id is stored under (its shard, if sharded)."""
        listing = self.listing(program_id, attribute, value)
        return keys.sharded(listing.name, keys.shard_of_id(numeric_id)) if listing.sharded else listing.name


USER = Kind("USER", "user_id", {"user_id": "GSI2", "amazon_id": "GSI3", "email": "GSI4"},
            {"email": _casefold})
CARD = Kind("CARD", "card_id", {"card_id": "GSI2", "user_id": "GSI3", "issuer": "GSI4"},
            {"issuer": _casefold})
PRODUCT = Kind("PRODUCT", "product_id", {"product_id": "GSI2", "eligible_issuer": "GSI3"},
               {"eligible_issuer": _casefold})

_INTERNAL = {"PK", "SK", "type", "version"} | {f"{i}{p}" for i in keys.INDEXES for p in ("PK", "SK")}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_id(program_id: str, kind: Kind) -> int:
    return next_counter(keys.counter_key(program_id, kind.name))


def to_item(program_id: str, kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    """The stored item for a record: the record's fields plus keys and index attributes."""
    numeric_id = int(record["id"])
    item = dict(record)
    item.update(keys.entity_key(program_id, kind.name, numeric_id))
    item["type"] = kind.name
    sort = keys.pad_id(numeric_id)
    item["GSI1PK"], item["GSI1SK"] = kind.index_key(program_id, None, None, numeric_id), sort
    for attribute, index in kind.lookups.items():
        value = record.get(attribute)
        if value is not None:
            item[f"{index}PK"], item[f"{index}SK"] = kind.index_key(program_id, attribute, value, numeric_id), sort
    return item


def to_record(item: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in item.items() if k not in _INTERNAL}
    record["id"] = int(record["id"])
    return record


def get(program_id: str, kind: Kind, numeric_id: int) -> tuple[dict[str, Any], int] | None:
    """A record and its version, read consistently."""
    item = get_item(keys.entity_key(program_id, kind.name, numeric_id))
    if item is None or item.get("type") != kind.name:
        return None
    return to_record(item), int(item.get("version", 0))


def get_unique(program_id: str, kind: Kind, natural_id: str) -> dict[str, Any] | None:
    """The guard item of a natural identifier: {'ref_id': numeric id, 'card_count': ...} or None."""
    return get_item(keys.unique_key(program_id, kind.name, natural_id))


def get_by_natural(program_id: str, kind: Kind, natural_id: str) -> tuple[dict[str, Any], int] | None:
    guard = get_unique(program_id, kind, natural_id)
    if guard is None:
        return None
    return get(program_id, kind, int(guard["ref_id"]))


def guards(program_id: str, kind: Kind, natural_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The guard items of several natural identifiers in one BatchGetItem: natural id -> guard (absent if
    none is registered)."""
    if not natural_ids:
        return {}
    found = batch_get([keys.unique_key(program_id, kind.name, n) for n in natural_ids])
    result = {}
    for natural_id in natural_ids:
        guard = found_in(found, keys.unique_key(program_id, kind.name, natural_id))
        if guard is not None:
            result[natural_id] = guard
    return result


def record_of(kind: Kind, item: dict[str, Any] | None) -> tuple[dict[str, Any], int] | None:
    """A stored item as (record, version), or None if it is absent or not of this kind."""
    if item is None or item.get("type") != kind.name:
        return None
    return to_record(item), int(item.get("version", 0))


@dataclass
class Changed:
    """The stored record did not hold what an in-place update assumed: `current` is what it holds
    (record, version), None when there is no such record."""

    current: tuple[dict[str, Any], int] | None


def update_in_place(program_id: str, kind: Kind, numeric_id: int, changes: dict[str, Any],
                    unchanged: dict[str, Any]) -> dict[str, Any] | Changed:
    """Change some fields of a record with one conditional UpdateItem, when no other item has to change
    with it: `unchanged` holds what the stored record must still hold for that to be true (its natural
    id, a card's owner and balance, a user's wallet). The version moves by one, as with every write, so
    readers that plan on a version (payments) see the change. Returns the record as written, or Changed
    with the stored record (from the failed condition itself, no extra read) for the caller's general
    read-then-transaction path."""
    names, vals = {"#v": "version", "#t": "type"}, {"one": 1, "kind": kind.name}
    assignments = ["#v = #v + :one"]
    for i, (attribute, value) in enumerate(sorted(changes.items())):
        names[f"#s{i}"], vals[f"s{i}"] = attribute, value
        assignments.append(f"#s{i} = :s{i}")
        index = kind.lookups.get(attribute)
        if index is not None:  # a lookup attribute moves its index key with it (the sort key is the id)
            names[f"#i{i}"], vals[f"i{i}"] = f"{index}PK", kind.index_key(program_id, attribute, value, numeric_id)
            assignments.append(f"#i{i} = :i{i}")
    conditions = ["attribute_exists(PK)", "#t = :kind"]
    for i, (attribute, value) in enumerate(sorted(unchanged.items())):
        names[f"#c{i}"], vals[f"c{i}"] = attribute, value
        conditions.append(f"#c{i} = :c{i}")
    try:
        item = update_item(keys.entity_key(program_id, kind.name, numeric_id), "SET " + ", ".join(assignments),
                           " AND ".join(conditions), names=names, vals=vals)
    except ConditionFailed as failed:
        return Changed(record_of(kind, failed.item))
    return to_record(item)


# --- listing -------------------------------------------------------------------------------------


# A cursor is the page's LastEvaluatedKey as base64url JSON, unsigned, and that is safe because of where it
# is used, not because it cannot be altered:
#
# 1. Every listing builds its Query's partition key from the caller (keys.* with the caller's program first,
#    and for an issuer key its forced issuer filter), never from the cursor. DynamoDB's Query returns only
#    items of the partition named in KeyConditionExpression; ExclusiveStartKey only says where in that
#    partition to resume. So a cursor, forged or altered, can at most make the caller skip or repeat items
#    of a partition the same key may list from its start anyway. It grants no read, and reaches no other
#    program's partition (which also begins P#<program>#, and a program id cannot hold '#').
# 2. decode_cursor checks anyway that the cursor names the query's own partition (the caller's), so that
#    a cursor of another listing is refused rather than quietly misused, and
# 3. it refuses, as a 400 invalid_cursor and never a DynamoDB ValidationException (a 500), whatever
#    DynamoDB would refuse as an ExclusiveStartKey: not base64url JSON, not an object, other key names
#    (another index's), non-string or empty values, values over DynamoDB's key sizes (2048 bytes for a
#    partition key, 1024 for a sort key), text that is not UTF-8. A listing whose Query also bounds the sort
#    key (the ledger: begins_with ACTIVITY#) checks the cursor's sort key against that bound itself.
#
# A signature (an HMAC under a secret) would add tamper evidence, but no safety the partition does not
# already give, at the price of a secret to provision, rotate and read in every listing's cold start.
from flexigift.store.listing import MAX_CURSOR_LENGTH  # noqa: E402,F401  # one bound for every cursor (tests import it from here)


def encode_cursor(last_key: dict[str, Any]) -> str:
    plain = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _refused(message: str = "cursor is not one this API issued") -> InvalidCursor:
    return InvalidCursor(f"{message}; use the Link header of the previous page")


def _fits_a_key(name: str, value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in the JSON) is no DynamoDB string
        return False
    return size <= (1024 if name.endswith("SK") else 2048)


def decode_cursor(cursor: str, expected_keys: set[str], partition: tuple[str, str]) -> dict[str, Any]:
    """Decode and check a cursor (see above): it must carry exactly this query's key attributes, each a
    non-empty string DynamoDB accepts as a key, and name this query's partition (the caller's). Anything
    else, whatever its content, is an InvalidCursor (400)."""
    data = cursor_payload(cursor)
    if not isinstance(data, dict) or set(data) != expected_keys:
        raise _refused("cursor does not belong to this listing")
    if not all(_fits_a_key(name, value) for name, value in data.items()):
        raise _refused()
    if data.get(partition[0]) != partition[1]:
        raise _refused("cursor does not belong to this listing")
    return data


def list_page(program_id: str, kind: Kind, filters: dict[str, str], limit: int,
              cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of records, by the most selective index the filters allow. The indexes hold keys only (a
    card's balance changes with every payment, and an index holding it would be written with every one):
    the page's records are then read from the table in one BatchGetItem, eventually consistent like the index
    the page's keys came from (half the read units: a popular issuer's first page is read by every such
    listing; GET /<kind>/{id}, updates and checkout read records consistently). Other filters are checked on
    the records read, so a page holding records that fail them may come back shorter (the cursor still moves
    past them)."""
    attribute = None
    for candidate in kind.lookups:  # declared in order of selectivity
        if candidate in filters:
            attribute = candidate
            break
    listing = kind.listing(program_id, attribute, filters.get(attribute) if attribute else None)
    index_items, next_cursor = page(listing, limit, cursor)
    found = batch_get([{"PK": i["PK"], "SK": i["SK"]} for i in index_items], consistent=False) if index_items else {}
    wanted = {name: kind.normalised(name, value) for name, value in filters.items() if name != attribute}
    records = []
    for index_item in index_items:  # the listing's order; a record deleted since the index was read is left out
        item = found_in(found, index_item)
        if item is None or item.get("type") != kind.name:
            continue
        if all(item.get(name) is not None and kind.normalised(name, item[name]) == value
               for name, value in wanted.items()):
            records.append(to_record(item))
    return records, next_cursor


# --- transaction parts ---------------------------------------------------------------------------


def tx_insert(tx: Transaction, program_id: str, kind: Kind, record: dict[str, Any],
              guard_extra: dict[str, Any] | None = None) -> None:
    """Put a new record (version 1) and claim its natural identifier. Labels: 'record', 'unique'."""
    item = to_item(program_id, kind, record)
    item["version"] = 1
    tx.put("record", item, condition="attribute_not_exists(PK)")
    tx_claim_unique(tx, program_id, kind, record[kind.natural], int(record["id"]), guard_extra)


def tx_claim_unique(tx: Transaction, program_id: str, kind: Kind, natural_id: str, numeric_id: int,
                    extra: dict[str, Any] | None = None) -> None:
    guard = {**keys.unique_key(program_id, kind.name, natural_id), "type": f"UNIQUE#{kind.name}",
             "ref_id": numeric_id, **(extra or {})}
    tx.put("unique", guard, condition="attribute_not_exists(PK)")


def tx_release_unique(tx: Transaction, program_id: str, kind: Kind, natural_id: str, numeric_id: int,
                      require_no_cards: bool = False) -> None:
    """Delete a guard item that still points at this record (and, for a user, counts no cards)."""
    condition = "ref_id = :ref"
    if require_no_cards:
        condition += " AND (attribute_not_exists(card_count) OR card_count = :zero)"
        tx.delete("release_unique", keys.unique_key(program_id, kind.name, natural_id), condition=condition,
                  vals={"ref": numeric_id, "zero": 0})
    else:
        tx.delete("release_unique", keys.unique_key(program_id, kind.name, natural_id), condition=condition,
                  vals={"ref": numeric_id})


def tx_replace(tx: Transaction, program_id: str, kind: Kind, record: dict[str, Any], expected_version: int,
               label: str = "record") -> None:
    """Overwrite a record if nobody changed it since it was read (optimistic lock)."""
    item = to_item(program_id, kind, record)
    item["version"] = expected_version + 1
    tx.put(label, item, condition="#v = :expected", names={"#v": "version"},
           vals={"expected": expected_version})


def tx_delete(tx: Transaction, program_id: str, kind: Kind, numeric_id: int, expected_version: int) -> None:
    tx.delete("record", keys.entity_key(program_id, kind.name, numeric_id), condition="#v = :expected",
              names={"#v": "version"}, vals={"expected": expected_version})


def tx_count_cards(tx: Transaction, program_id: str, user_id: str, delta: int, label: str,
                   unlink_card_id: str | None = None) -> None:
    """Change the number of cards registered to a user_id; the user must exist. `unlink_card_id`: the card
    also leaves the wallet kept on the guard (a linked card being deleted)."""
    expression, names = "ADD card_count :delta", None
    if unlink_card_id is not None:
        expression += " REMOVE wallet_cards.#card"
        names = {"#card": unlink_card_id}
    tx.update(label, keys.unique_key(program_id, USER.name, user_id), expression, condition="attribute_exists(PK)",
              names=names, vals={"delta": delta})


def tx_set_wallet(tx: Transaction, program_id: str, user_id: str, numeric_id: int, cards: dict[str, int] | None,
                  label: str = "wallet", amazon_id: str | None = None) -> None:
    """Keep the wallet on the user's guard: card_id -> numeric id of every linked card, written with every
    change of the user's gift_cards, so that checkout finds a user's cards from the user_id in one read; and
    the user's amazon_id when it changes (a checkout by user_id answers with both)."""
    sets: list[str] = []
    vals: dict[str, Any] = {"ref": numeric_id}
    if cards is not None:
        sets.append("wallet_cards = :cards")
        vals["cards"] = cards
    if amazon_id is not None:
        sets.append("amazon_id = :amazon")
        vals["amazon"] = amazon_id
    tx.update(label, keys.unique_key(program_id, USER.name, user_id), "SET " + ", ".join(sets),
              condition="ref_id = :ref", vals=vals)


def get_amazon(program_id: str, amazon_id: str) -> dict[str, Any] | None:
    """The guard of an Amazon account id: {'ref_id': the user's numeric id, 'user_id': ...} or None."""
    return get_item(keys.amazon_key(program_id, amazon_id))


def tx_claim_amazon(tx: Transaction, program_id: str, amazon_id: str, numeric_id: int, user_id: str) -> None:
    """Make an amazon_id the user's (label 'amazon': fails if another user of the program holds it), or
    rewrite the user's own guard with its new user_id."""
    tx.put("amazon", {**keys.amazon_key(program_id, amazon_id), "type": "UNIQUE#AMAZON", "ref_id": numeric_id,
                      "user_id": user_id},
           condition="attribute_not_exists(PK) OR ref_id = :ref", vals={"ref": numeric_id})


def tx_release_amazon(tx: Transaction, program_id: str, amazon_id: str, numeric_id: int) -> None:
    """Give up the user's amazon_id (a user registered before the guard existed has none: nothing to do)."""
    tx.delete("release_amazon", keys.amazon_key(program_id, amazon_id),
              condition="attribute_not_exists(PK) OR ref_id = :ref", vals={"ref": numeric_id})


def tx_link_card(tx: Transaction, program_id: str, card_numeric_id: int, user_id: str, linked: bool, label: str,
                 card_id: str | None = None, owner_numeric_id: int | None = None) -> None:
    """Mark a card linked to (or unlinked from) the wallet of the user it is registered to. Linking names
    the card_id it was resolved from (the card must still carry it) and the owner's numeric id."""
    if linked:
        tx.update(label, keys.entity_key(program_id, CARD.name, card_numeric_id),
                  "SET linked = :linked, owner_ref = :owner, #v = #v + :one",
                  condition="attribute_exists(PK) AND user_id = :uid AND card_id = :cid",
                  names={"#v": "version"},
                  vals={"linked": True, "uid": user_id, "one": 1, "owner": owner_numeric_id, "cid": card_id})
    else:
        tx.update(label, keys.entity_key(program_id, CARD.name, card_numeric_id),
                  "SET linked = :linked, #v = #v + :one REMOVE owner_ref",
                  condition="attribute_exists(PK) AND user_id = :uid",
                  names={"#v": "version"}, vals={"linked": False, "uid": user_id, "one": 1})


def tx_link_new_card(tx: Transaction, program_id: str, *, user_id: str, user_numeric_id: int, card_id: str,
                     card_numeric_id: int, max_cards: int, now: str) -> None:
    """A card created already linked (a reward paid into the wallet: tx_insert puts it with linked and
    owner_ref) joins its owner's wallet in the same transaction: the guard counts it and keeps it in
    wallet_cards (label 'wallet:guard'), the user lists it in gift_cards, never beyond `max_cards`
    (label 'wallet:user')."""
    tx.update("wallet:guard", keys.unique_key(program_id, USER.name, user_id),
              "ADD card_count :one SET wallet_cards.#card = :number",
              condition="ref_id = :ref AND attribute_exists(wallet_cards)",
              names={"#card": card_id}, vals={"one": 1, "number": card_numeric_id, "ref": user_numeric_id})
    tx.update("wallet:user", keys.entity_key(program_id, USER.name, user_numeric_id),
              "SET gift_cards = list_append(gift_cards, :card), #v = #v + :one, updated_at = :now",
              condition="attribute_exists(PK) AND user_id = :uid AND size(gift_cards) < :max",
              names={"#v": "version"},
              vals={"card": [card_id], "one": 1, "now": now, "uid": user_id, "max": max_cards})
