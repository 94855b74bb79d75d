"""Storage of API keys. The key item is found by the SHA-256 of the secret (one read per
authorization); a pointer item maps the public key_id to that hash for revocation."""

from __future__ import annotations

from typing import Any

from flexigift.store import keys
from flexigift.store.table import (
    ConditionFailed,
    Query,
    Transaction,
    TransactionCancelled,
    get_item,
    query_page,
    update_item,
)

_PUBLIC = ("key_id", "name", "scopes", "program_id", "status", "created_at", "revoked_at")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in _PUBLIC if k in item}


def insert(key_hash: str, record: dict[str, Any]) -> bool:
    """Store a new key; False if that secret is already stored."""
    tx = Transaction()
    tx.put("key", {**keys.api_key_key(key_hash), "type": "APIKEY", **record, "GSI1PK": "APIKEY",
                   "GSI1SK": f"{record['created_at']}#{record['key_id']}"}, condition="attribute_not_exists(PK)")
    tx.put("pointer", {**keys.api_key_pointer_key(record["key_id"]), "type": "APIKEYID", "key_hash": key_hash},
           condition="attribute_not_exists(PK)")
    try:
        tx.commit()
    except TransactionCancelled:
        return False
    return True


def find_by_hash(key_hash: str) -> dict[str, Any] | None:
    item = get_item(keys.api_key_key(key_hash))
    return _public(item) if item else None


def revoke(key_id: str, revoked_at: str) -> dict[str, Any] | None:
    """Mark a key revoked (kept for audit). None if no such key. The pointer gives the key's hash; one
    conditional UpdateItem then revokes it and returns it as written."""
    pointer = get_item(keys.api_key_pointer_key(key_id))
    if pointer is None:
        return None
    try:
        item = update_item(keys.api_key_key(pointer["key_hash"]),
                           "SET #s = :revoked, revoked_at = if_not_exists(revoked_at, :at)",
                           "attribute_exists(PK)", names={"#s": "status"},
                           vals={"revoked": "REVOKED", "at": revoked_at})
    except ConditionFailed:
        return None
    return _public(item)


def list_page(limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, last = query_page(Query(index="GSI1", pk_name="GSI1PK", pk_value="APIKEY", limit=limit, start_key=start))
    return [_public(i) for i in items], last
