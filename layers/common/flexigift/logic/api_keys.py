"""API keys: issue, authenticate, revoke, list. Secrets are stored only as SHA-256 hashes.

Keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force."""

from __future__ import annotations

import hashlib
import secrets
from typing import Iterable

from flexigift.errors import Conflict, NotFound
from flexigift.models.api_keys import SCOPES, ApiKey, ApiKeyCreate, IssuedApiKey
from flexigift.observability import logger
from flexigift.store import api_keys as store
from flexigift.store import wallet
from flexigift.store.wallet import decode_cursor, encode_cursor

KEY_PREFIX = "fgk_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def parse_authorization(header: str | None) -> str | None:
    """The key from an Authorization header: the raw key (as the rewards seed shows) or `Bearer <key>`."""
    if not header:
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def issue_key(body: ApiKeyCreate, raw_key: str | None = None) -> IssuedApiKey:
    raw_key = raw_key or KEY_PREFIX + secrets.token_urlsafe(32)
    record = {
        "key_id": "key_" + secrets.token_hex(8),
        "name": body.name,
        "scopes": sorted(set(body.scopes)),
        "program_id": body.program_id,
        "status": "ACTIVE",
        "created_at": wallet.now_iso(),
    }
    if not store.insert(hash_key(raw_key), record):
        raise Conflict("That API key is already registered")
    logger.info("api key issued", extra={"key_id": record["key_id"], "scopes": record["scopes"]})
    return IssuedApiKey(**record, api_key=raw_key)


def ensure_key(raw_key: str, name: str, scopes: Iterable[str] = SCOPES) -> ApiKey:
    """Register a given secret (the local stack's bootstrap key) unless it is already known."""
    known = store.find_by_hash(hash_key(raw_key))
    if known:
        return ApiKey(**known)
    return issue_key(ApiKeyCreate(name=name, scopes=list(scopes)), raw_key=raw_key)


def authenticate(header: str | None) -> ApiKey | None:
    """The active key named by an Authorization header, or None."""
    raw_key = parse_authorization(header)
    if raw_key is None or len(raw_key) > 512:
        return None
    found = store.find_by_hash(hash_key(raw_key))
    if found is None or found.get("status") != "ACTIVE":
        return None
    return ApiKey(**found)


def revoke_key(key_id: str) -> ApiKey:
    found = store.revoke(key_id, wallet.now_iso())
    if found is None:
        raise NotFound(f"No API key with key_id '{key_id}'")
    logger.info("api key revoked", extra={"key_id": key_id})
    return ApiKey(**found)


def list_keys(limit: int, cursor: str | None) -> tuple[list[ApiKey], str | None]:
    start = decode_cursor(cursor, {"PK", "SK", "GSI1PK", "GSI1SK"}, ("GSI1PK", "APIKEY")) if cursor else None
    items, last = store.list_page(limit, start)
    return [ApiKey(**i) for i in items], (encode_cursor(last) if last else None)
