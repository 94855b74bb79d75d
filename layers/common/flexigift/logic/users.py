"""Users: register, read, list, replace (PUT), update (PATCH), delete; gift card links."""

from __future__ import annotations

from typing import Any

from flexigift.errors import Conflict, ValidationFailed, field_error
from flexigift.logic.records import (
    StaleRecord,
    commit,
    load,
    replace_record,
    update_record,
    with_retries,
)
from flexigift.models.wallet import User, UserCreate, UserPatch, UserReplace
from flexigift.observability import logger, metrics
from flexigift.store import wallet
from flexigift.store.table import Transaction

FILTERS = ("user_id", "amazon_id", "email")
REQUIRED = ("user_id", "amazon_id", "name", "email")


def _user_id_taken(user_id: str) -> Conflict:
    return Conflict(f"user_id '{user_id}' is already registered",
                    fields=[field_error("user_id", "already registered", "duplicate")])


def _resolve_cards(card_ids: list[str], user_id: str) -> dict[str, int]:
    """card_id -> numeric id for cards about to be linked; refuse unknown cards and other users' cards."""
    resolved, errors = {}, []
    for position, card_id in enumerate(card_ids):
        found = wallet.get_by_natural(wallet.CARD, card_id)
        if found is None:
            errors.append(field_error(f"gift_cards[{position}]", f"no gift card '{card_id}' is registered",
                                      "unknown_card"))
        elif found[0]["user_id"] != user_id:
            errors.append(field_error(f"gift_cards[{position}]",
                                      f"gift card '{card_id}' is registered to another user", "foreign_card"))
        else:
            resolved[card_id] = int(found[0]["id"])
    if errors:
        raise ValidationFailed("Some gift cards cannot be linked to this user", fields=errors)
    return resolved


def _link_failure(card_ids: list[str]) -> ValidationFailed:
    return ValidationFailed("A gift card changed while it was being linked; check the cards and retry",
                            fields=[field_error("gift_cards", f"could not link {', '.join(card_ids)}",
                                                "card_changed")])


def register_user(body: UserCreate) -> User:
    record: dict[str, Any] = body.model_dump(mode="python", exclude={"gift_cards"})
    record["gift_cards"] = list(body.gift_cards or [])
    cards = _resolve_cards(record["gift_cards"], record["user_id"])
    record["id"] = wallet.next_id(wallet.USER)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, wallet.USER, record)
    for card_id, card_number in cards.items():
        wallet.tx_link_card(tx, card_number, record["user_id"], True, f"card:{card_id}")
    try:
        commit(tx, {"unique": _user_id_taken(record["user_id"]), "card": _link_failure(list(cards))})
    except StaleRecord:
        raise Conflict("A concurrent request changed the same records; try again") from None
    metrics.add_metric(name="UserRegistered", unit="Count", value=1)
    if cards:
        metrics.add_metric(name="GiftCardLinked", unit="Count", value=len(cards))
    logger.info("user registered", extra={"id": record["id"]})
    return User.model_validate(record)


def get_user(numeric_id: int) -> User:
    record, _ = load(wallet.USER, numeric_id, "user")
    return User.model_validate(record)


def list_users(filters: dict[str, str], limit: int, cursor: str | None) -> tuple[list[User], str | None]:
    records, next_cursor = wallet.list_page(wallet.USER, filters, limit, cursor)
    return [User.model_validate(r) for r in records], next_cursor


def _save(numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any]) -> User:
    """Write a changed user: move the user_id guard if it changed, link and unlink cards, one transaction."""
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    new["gift_cards"] = list(new.get("gift_cards") or [])
    old_cards, new_cards = current.get("gift_cards", []), new["gift_cards"]
    added = [c for c in new_cards if c not in old_cards]
    removed = [c for c in old_cards if c not in new_cards]
    to_link = _resolve_cards(added, new["user_id"])
    tx = Transaction()
    wallet.tx_replace(tx, wallet.USER, new, version)
    if new["user_id"] != current["user_id"]:
        wallet.tx_release_unique(tx, wallet.USER, current["user_id"], numeric_id, require_no_cards=True)
        wallet.tx_claim_unique(tx, wallet.USER, new["user_id"], numeric_id)
    for card_id, card_number in to_link.items():
        wallet.tx_link_card(tx, card_number, new["user_id"], True, f"card:{card_id}")
    for card_id in removed:
        guard = wallet.get_unique(wallet.CARD, card_id)
        if guard is not None:
            wallet.tx_link_card(tx, int(guard["ref_id"]), current["user_id"], False, f"unlink:{card_id}")
    commit(tx, {
        "unique": _user_id_taken(new["user_id"]),
        "release_unique": Conflict(f"user_id cannot change while gift cards are registered to "
                                   f"'{current['user_id']}'", fields=[field_error("user_id", "has gift cards",
                                                                                  "has_cards")]),
        "card": _link_failure(list(to_link)),
    }, stale_labels=("record", "unlink"))
    if to_link:
        metrics.add_metric(name="GiftCardLinked", unit="Count", value=len(to_link))
    logger.info("user updated", extra={"id": numeric_id, "linked": len(to_link), "unlinked": len(removed)})
    return User.model_validate(new)


def replace_user(numeric_id: int, body: UserReplace) -> User:
    return replace_record(wallet.USER, "user", numeric_id, body, _save)


def update_user(numeric_id: int, patch: UserPatch) -> User:
    return update_record(wallet.USER, "user", numeric_id, patch, REQUIRED, _save)


def delete_user(numeric_id: int) -> None:
    def attempt() -> None:
        current, version = load(wallet.USER, numeric_id, "user")
        tx = Transaction()
        wallet.tx_delete(tx, wallet.USER, numeric_id, version)
        wallet.tx_release_unique(tx, wallet.USER, current["user_id"], numeric_id, require_no_cards=True)
        commit(tx, {"release_unique": Conflict(
            f"User '{current['user_id']}' still has gift cards registered; delete or move them first")})
        logger.info("user deleted", extra={"id": numeric_id})

    with_retries(attempt)
