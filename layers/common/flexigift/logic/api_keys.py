"""API keys and programs: issue, authenticate, revoke, list keys; create programs. Secrets are stored only as
SHA-256 hashes (keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force).

Every key belongs to one program and acts only in it. An admin key manages its own program's keys. The
platform's operator key (the local bootstrap key; after a deploy, the first key, created by invoking
CreateApiKeyFunction directly with events/create_operator_key.json) holds every scope, acts in the
`default` program, and alone creates programs and keys for any program."""

from __future__ import annotations

import hashlib
import secrets
from typing import Iterable

from flexigift.api import Caller
from flexigift.errors import Conflict, Forbidden, NotFound, field_error
from flexigift.models.api_keys import SCOPES, ApiKey, ApiKeyCreate, IssuedApiKey, Program, ProgramCreate
from flexigift.observability import logger
from flexigift.store import api_keys as store
from flexigift.store import wallet

KEY_PREFIX = "fgk_"
DEFAULT_PROGRAM = "default"
OPERATOR = Caller(key_id="operator", scopes=frozenset(SCOPES), program_id=DEFAULT_PROGRAM, operator=True)


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


def issue_key(who: Caller, body: ApiKeyCreate, raw_key: str | None = None) -> IssuedApiKey:
    program_id = body.program_id or who.program_id
    if program_id != who.program_id and not who.operator:
        raise Forbidden("Only the platform's operator key creates keys for another program",
                        fields=[field_error("program_id", f"must be '{who.program_id}'", "foreign_program")])
    if body.operator and not who.operator:
        raise Forbidden("Only the operator key creates operator keys",
                        fields=[field_error("operator", "must be false", "not_operator")])
    if program_id != DEFAULT_PROGRAM and not store.program_exists(program_id):
        raise NotFound(f"No program '{program_id}': the operator creates it first (POST /admin/programs)",
                               fields=[field_error("program_id", "no such program", "unknown_program")])
    raw_key = raw_key or KEY_PREFIX + secrets.token_urlsafe(32)
    record = {
        "key_id": "key_" + secrets.token_hex(8),
        "name": body.name,
        "scopes": sorted(set(SCOPES) if body.operator else set(body.scopes)),
        "program_id": program_id,
        "issuer": body.issuer,
        "operator": body.operator,
        "status": "ACTIVE",
        "created_at": wallet.now_iso(),
        "created_by": who.key_id,
    }
    if not store.insert(hash_key(raw_key), {k: v for k, v in record.items() if v is not None}):
        raise Conflict("That API key is already registered")
    logger.info("api key issued", extra={"key_id": record["key_id"], "scopes": record["scopes"],
                                         "program_id": program_id, "issuer": body.issuer})
    return IssuedApiKey(**record, api_key=raw_key)


def ensure_key(raw_key: str, name: str, scopes: Iterable[str] = SCOPES) -> ApiKey:
    """Register a given secret (the local stack's bootstrap key: the operator key) unless it is known."""
    known = store.find_by_hash(hash_key(raw_key))
    if known:
        return ApiKey(**known)
    return issue_key(OPERATOR, ApiKeyCreate(name=name, scopes=list(scopes), operator=True), raw_key=raw_key)


def authenticate(header: str | None) -> ApiKey | None:
    """The active key named by an Authorization header, or None."""
    raw_key = parse_authorization(header)
    if raw_key is None or len(raw_key) > 512:
        return None
    found = store.find_by_hash(hash_key(raw_key))
    if found is None or found.get("status") != "ACTIVE":
        return None
    return ApiKey(**found)


def revoke_key(who: Caller, key_id: str) -> ApiKey:
    found = store.revoke(who.program_id, key_id, wallet.now_iso())
    if found is None:
        raise NotFound(f"No API key with key_id '{key_id}'")
    logger.info("api key revoked", extra={"key_id": key_id})
    return ApiKey(**found)


def list_keys(who: Caller, limit: int, cursor: str | None) -> tuple[list[ApiKey], str | None]:
    items, next_cursor = store.list_page(who.program_id, limit, cursor)
    return [ApiKey(**i) for i in items], next_cursor


def create_program(who: Caller, body: ProgramCreate) -> Program:
    if not who.operator:
        raise Forbidden("Only the platform's operator key creates programs")
    if body.program_id == DEFAULT_PROGRAM:
        raise Conflict(f"Program '{DEFAULT_PROGRAM}' always exists")
    record = {"program_id": body.program_id, "name": body.name,
              "delivery_methods": sorted(set(body.delivery_methods)), "created_at": wallet.now_iso(),
              "created_by": who.key_id}
    record["updated_at"] = record["created_at"]
    if not store.insert_program(record):
        raise Conflict(f"Program '{body.program_id}' already exists",
                       fields=[field_error("program_id", "already exists", "duplicate")])
    logger.info("program created", extra={"program_id": body.program_id})
    return Program(**record)
