"""Storage of API keys. The key item is found by the SHA-256 of the secret (one read per
authorization, global: the program is learnt from it); a pointer item in the key's program maps the public
key_id to that hash for revocation, and the program's listing is its own index partition, so an admin
reaches only its own program's keys."""

from __future__ import annotations

from typing import Any

from flexigift.store import keys
from flexigift.store.listing import Listing, page
from flexigift.store.table import (
    ConditionFailed,
    Transaction,
    TransactionCancelled,
    batch_get,
    found_in,
    get_item,
    update_item,
)

_PUBLIC = ("key_id", "name", "scopes", "program_id", "issuer", "operator", "status", "created_at", "revoked_at",
           "created_by")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in _PUBLIC if k in item}


def insert(key_hash: str, record: dict[str, Any]) -> bool:
    """Store a new key; False if that secret is already stored."""
    tx = Transaction()
    program_id = record["program_id"]
    tx.put("key", {**keys.api_key_key(key_hash), "type": "APIKEY", **record,
                   "GSI1PK": keys.sharded(keys.api_keys_partition(program_id), keys.shard_of_text(record["key_id"])),
                   "GSI1SK": f"{record['created_at']}#{record['key_id']}"}, condition="attribute_not_exists(PK)")
    tx.put("pointer", {**keys.api_key_pointer_key(program_id, record["key_id"]), "type": "APIKEYID",
                       "key_hash": key_hash}, condition="attribute_not_exists(PK)")
    try:
        tx.commit()
    except TransactionCancelled:
        return False
    return True


def find_by_hash(key_hash: str) -> dict[str, Any] | None:
    item = get_item(keys.api_key_key(key_hash))
    return _public(item) if item else None


def revoke(program_id: str, key_id: str, revoked_at: str) -> dict[str, Any] | None:
    """Mark a key of this program revoked (kept for audit). None if the program has no such key. The
    pointer gives the key's hash; one conditional UpdateItem then revokes it and returns it as written."""
    pointer = get_item(keys.api_key_pointer_key(program_id, key_id))
    if pointer is None:
        return None
    try:
        item = update_item(keys.api_key_key(pointer["key_hash"]),
                           "SET #s = :revoked, revoked_at = if_not_exists(revoked_at, :at)",
                           "attribute_exists(PK) AND program_id = :program", names={"#s": "status"},
                           vals={"revoked": "REVOKED", "at": revoked_at, "program": program_id})
    except ConditionFailed:
        return None
    return _public(item)


def list_page(program_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the program's keys, oldest first: the keys from the sharded listing, then the key items in one
    BatchGetItem (GSI1 holds no key fields), eventually consistent like the index itself (the authorizer reads a
    key consistently)."""
    index_items, next_cursor = page(Listing("GSI1", keys.api_keys_partition(program_id), sharded=True), limit, cursor)
    found = batch_get([{"PK": i["PK"], "SK": i["SK"]} for i in index_items], consistent=False) if index_items else {}
    return [_public(item) for i in index_items if (item := found_in(found, i)) is not None], next_cursor


# --- programs ------------------------------------------------------------------------------------


def insert_program(record: dict[str, Any]) -> bool:
    """Store a new program (global: PROGRAM#<id>); False if it exists. Its delivery methods are read by the
    rewards (logic.programs)."""
    try:
        tx = Transaction()
        tx.put("program", {**keys.program_key(record["program_id"]), "type": "PROGRAM", **record},
               condition="attribute_not_exists(PK)")
        tx.commit()
    except TransactionCancelled:
        return False
    return True


def program_exists(program_id: str) -> bool:
    return get_item(keys.program_key(program_id)) is not None
