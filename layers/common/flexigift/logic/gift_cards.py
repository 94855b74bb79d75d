"""Gift cards: register a third-party card for a user, read, list, replace, update, delete."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from flexigift.errors import Conflict, ValidationFailed, field_error
from flexigift.logic.records import (
    InPlace,
    commit,
    load,
    replace_record,
    update_record,
    with_retries,
)
from flexigift.models.wallet import GiftCard, GiftCardCreate, GiftCardPatch, GiftCardReplace
from flexigift.observability import logger
from flexigift.store import keys, ledger, wallet
from flexigift.store.table import Transaction, batch_get, found_in

FILTERS = ("card_id", "user_id", "issuer")
REQUIRED = ("card_id", "user_id", "issuer", "balance", "expiry_date", "state")


def today() -> date:
    return datetime.now(timezone.utc).date()


def _card_id_taken(card_id: str) -> Conflict:
    return Conflict(f"card_id '{card_id}' is already registered",
                    fields=[field_error("card_id", "already registered", "duplicate")])


def _unknown_user(user_id: str) -> ValidationFailed:
    return ValidationFailed(f"No user with user_id '{user_id}' is registered; register the user first",
                            fields=[field_error("user_id", f"no user '{user_id}' is registered", "unknown_user")])


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    record["expiry_date"] = str(record["expiry_date"])
    state = record.get("state", "ACTIVE")
    record["state"] = getattr(state, "value", state)
    return record


def register_card(body: GiftCardCreate) -> GiftCard:
    record = _stored(body.model_dump(mode="python"))
    record["linked"] = False
    record["id"] = wallet.next_id(wallet.CARD)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, wallet.CARD, record)
    wallet.tx_count_cards(tx, record["user_id"], +1, "user")
    # the ledger opens with the registered balance; a new card's version is 1 (see store.ledger)
    ledger.tx_append(tx, gift_card_id=record["id"], card_id=record["card_id"], sequence=1,
                     activity_type="ACTIVATE", amount=record["balance"], balance_after=record["balance"],
                     created_at=record["created_at"])
    commit(tx, {"unique": _card_id_taken(record["card_id"]), "user": _unknown_user(record["user_id"])})
    logger.info("gift card registered", extra={"id": record["id"], "issuer": record["issuer"]})
    return GiftCard.from_record(record, today())


def get_card(numeric_id: int) -> GiftCard:
    record, _ = load(wallet.CARD, numeric_id, "gift card")
    return GiftCard.from_record(record, today())


def list_cards(filters: dict[str, str], limit: int, cursor: str | None) -> tuple[list[GiftCard], str | None]:
    records, next_cursor = wallet.list_page(wallet.CARD, filters, limit, cursor)
    day = today()
    return [GiftCard.from_record(r, day) for r in records], next_cursor


def _save(numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any]) -> GiftCard:
    new = _stored(new)
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    new["linked"] = bool(current.get("linked", False))
    if current.get("owner_ref") is not None:  # a linked card names its wallet's user (see store.wallet)
        new["owner_ref"] = current["owner_ref"]
    moved = new["user_id"] != current["user_id"]
    renamed = new["card_id"] != current["card_id"]
    if new["linked"] and (moved or renamed):
        raise Conflict(f"Gift card '{current['card_id']}' is linked to the wallet of '{current['user_id']}': "
                       "unlink it (PUT or PATCH the user's gift_cards) before changing card_id or user_id")
    tx = Transaction()
    wallet.tx_replace(tx, wallet.CARD, new, version)
    change = Decimal(new["balance"]) - Decimal(current["balance"])
    if change:  # written at the version the replace moves to, so it sorts after every earlier change
        ledger.tx_append(tx, gift_card_id=numeric_id, card_id=new["card_id"], sequence=version + 1,
                         activity_type="ADJUST", amount=change, balance_after=new["balance"],
                         created_at=new["updated_at"])
    if renamed:
        wallet.tx_release_unique(tx, wallet.CARD, current["card_id"], numeric_id)
        wallet.tx_claim_unique(tx, wallet.CARD, new["card_id"], numeric_id)
    if moved:
        wallet.tx_count_cards(tx, current["user_id"], -1, "old_user")
        wallet.tx_count_cards(tx, new["user_id"], +1, "user")
    commit(tx, {"unique": _card_id_taken(new["card_id"]), "user": _unknown_user(new["user_id"])},
           stale_labels=("record", "release_unique", "old_user", "activity"))
    logger.info("gift card updated", extra={"id": numeric_id})
    return GiftCard.from_record(new, today())


def _in_place(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A card is one item unless its card_id (guard), user_id (owners' card counts) or balance (a ledger
    entry at the next version) changes: the update holds them equal, or the general path runs."""
    changes = dict(fields)
    if "expiry_date" in changes:
        changes["expiry_date"] = str(changes["expiry_date"])
    if "state" in changes:
        changes["state"] = getattr(changes["state"], "value", changes["state"])
    unchanged = {name: changes[name] for name in ("card_id", "user_id", "balance") if name in changes}
    return {**changes, "updated_at": wallet.now_iso()}, unchanged


IN_PLACE = InPlace(plan=_in_place, answer=lambda record: GiftCard.from_record(record, today()))


def replace_card(numeric_id: int, body: GiftCardReplace) -> GiftCard:
    return replace_record(wallet.CARD, "gift card", numeric_id, body, _save, IN_PLACE)


def update_card(numeric_id: int, patch: GiftCardPatch) -> GiftCard:
    return update_record(wallet.CARD, "gift card", numeric_id, patch, REQUIRED, _save, IN_PLACE)


def _owner(card: dict[str, Any]) -> tuple[tuple[dict[str, Any], int] | None, dict[str, Any] | None]:
    """The user whose wallet holds a linked card, and that user's guard: one BatchGetItem when the card names
    its owner's numeric id (owner_ref, written when it was linked), else through the guard first."""
    guard_key = keys.unique_key(wallet.USER.name, card["user_id"])
    if card.get("owner_ref") is not None:
        user_key = keys.entity_key(wallet.USER.name, int(card["owner_ref"]))
        found = batch_get([user_key, guard_key])
        guard = found_in(found, guard_key)
        owner = wallet.record_of(wallet.USER, found_in(found, user_key))
        if owner is not None and owner[0]["user_id"] == card["user_id"]:
            return owner, guard
    guard = wallet.get_unique(wallet.USER, card["user_id"])
    return (wallet.get(wallet.USER, int(guard["ref_id"])) if guard else None), guard


def delete_card(numeric_id: int) -> None:
    """Delete a card; if it is linked, it leaves the user's gift_cards in the same transaction."""

    def attempt() -> None:
        current, version = load(wallet.CARD, numeric_id, "gift card")
        tx = Transaction()
        wallet.tx_delete(tx, wallet.CARD, numeric_id, version)
        wallet.tx_release_unique(tx, wallet.CARD, current["card_id"], numeric_id)
        unlink = None
        if current.get("linked"):
            owner, guard = _owner(current)
            if owner is not None:
                user, user_version = owner
                user["gift_cards"] = [c for c in user.get("gift_cards", []) if c != current["card_id"]]
                user["updated_at"] = wallet.now_iso()
                wallet.tx_replace(tx, wallet.USER, user, user_version, label="owner")
            if guard is not None and current["card_id"] in guard.get("wallet_cards", {}):
                unlink = current["card_id"]
        wallet.tx_count_cards(tx, current["user_id"], -1, "user", unlink_card_id=unlink)
        commit(tx, {}, stale_labels=("record", "release_unique", "user", "owner"))
        logger.info("gift card deleted", extra={"id": numeric_id})

    with_retries(attempt)
