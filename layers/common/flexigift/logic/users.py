"""Users: register, read, list, replace (PUT), update (PATCH), delete; gift card links."""

from __future__ import annotations

from typing import Any, Callable

from flexigift.errors import Conflict, NotFound, field_error
from flexigift.logic.records import (
    StaleRecord,
    check_body_id,
    checked_patch,
    commit,
    load,
    with_retries,
)
from flexigift.models.wallet import User, UserCreate, UserPatch, UserReplace
from flexigift.observability import logger, metrics
from flexigift.store import keys, wallet
from flexigift.store.table import Transaction, batch_get, found_in

FILTERS = ("user_id", "amazon_id", "email")
REQUIRED = ("user_id", "amazon_id", "name", "email")


def _user_id_taken(user_id: str) -> Conflict:
    return Conflict(f"user_id '{user_id}' is already registered",
                    fields=[field_error("user_id", "already registered", "duplicate")])


def _amazon_id_taken(amazon_id: str) -> Conflict:
    return Conflict(f"amazon_id '{amazon_id}' is already registered to another user",
                    fields=[field_error("amazon_id", "already registered", "duplicate")])


def _card_errors(program_id: str, card_ids: list[str], user_id: str, guards: dict[str, dict[str, Any]]) -> None:
    """Refuse unknown cards (404) and other users' cards (409), naming each; the cards are read only here, when
    the guards or the linking transaction already showed that something is wrong."""
    known = {c: int(g["ref_id"]) for c, g in guards.items() if c in card_ids}
    cards = batch_get([keys.entity_key(program_id, wallet.CARD.name, n) for n in known.values()]) if known else {}
    errors = []
    for position, card_id in enumerate(card_ids):
        found = (wallet.record_of(wallet.CARD, found_in(cards, keys.entity_key(program_id, wallet.CARD.name, known[card_id])))
                 if card_id in known else None)
        if found is None or found[0]["card_id"] != card_id:
            errors.append(field_error(f"gift_cards[{position}]", f"no gift card '{card_id}' is registered",
                                      "unknown_card"))
        elif found[0]["user_id"] != user_id:
            errors.append(field_error(f"gift_cards[{position}]",
                                      f"gift card '{card_id}' is registered to another user", "foreign_card"))
    if any(e["type"] == "unknown_card" for e in errors):  # names a card that does not exist
        raise NotFound("Some gift cards cannot be linked to this user: not registered", fields=errors)
    if errors:  # the cards exist but belong to another user: a conflict with their state
        raise Conflict("Some gift cards cannot be linked to this user: registered to another user", fields=errors)


def _resolve_cards(program_id: str, card_ids: list[str], user_id: str, guards: dict[str, dict[str, Any]]) -> dict[str, int]:
    """card_id -> numeric id for cards about to be linked, from their guards; refuse unknown cards (and,
    in the same answer, other users' cards). Ownership itself is a condition of the linking transaction."""
    if any(card_id not in guards for card_id in card_ids):
        _card_errors(program_id, card_ids, user_id, guards)
    return {card_id: int(guards[card_id]["ref_id"]) for card_id in card_ids}


def _commit_links(program_id: str, tx: Transaction, failures: dict[str, Any], to_link: dict[str, int], user_id: str,
                  guards: dict[str, dict[str, Any]], stale_labels: tuple[str, ...] = ("record",)) -> None:
    """Commit a transaction that links cards; a failed link is explained card by card when it can be."""
    link_failed = _link_failure(list(to_link))
    try:
        commit(tx, {**failures, "card": link_failed}, stale_labels=stale_labels)
    except Conflict as failed:
        if failed is link_failed:
            _card_errors(program_id, list(to_link), user_id, guards)
        raise


def _link_failure(card_ids: list[str]) -> Conflict:
    return Conflict("A gift card changed while it was being linked; check the cards and retry",
                            fields=[field_error("gift_cards", f"could not link {', '.join(card_ids)}",
                                                "card_changed")])


def register_user(program_id: str, body: UserCreate) -> User:
    record: dict[str, Any] = body.model_dump(mode="python", exclude={"gift_cards"})
    record["gift_cards"] = list(body.gift_cards or [])
    guards = wallet.guards(program_id, wallet.CARD, record["gift_cards"])
    cards = _resolve_cards(program_id, record["gift_cards"], record["user_id"], guards)
    record["id"] = wallet.next_id(program_id, wallet.USER)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, program_id, wallet.USER, record,
                     guard_extra={"wallet_cards": cards, "amazon_id": record["amazon_id"]})
    wallet.tx_claim_amazon(tx, program_id, record["amazon_id"], record["id"], record["user_id"])
    for card_id, card_number in cards.items():
        wallet.tx_link_card(tx, program_id, card_number, record["user_id"], True, f"card:{card_id}", card_id, record["id"])
    try:
        _commit_links(program_id, tx, {"unique": _user_id_taken(record["user_id"]),
                                       "amazon": _amazon_id_taken(record["amazon_id"])},
                      cards, record["user_id"], guards)
    except StaleRecord:
        raise Conflict("A concurrent request changed the same records; try again") from None
    metrics.add_metric(name="UserRegistered", unit="Count", value=1)
    if cards:
        metrics.add_metric(name="GiftCardLinked", unit="Count", value=len(cards))
    logger.info("user registered", extra={"id": record["id"]})
    return User.model_validate(record)


def get_user(program_id: str, numeric_id: int) -> User:
    record, _ = load(program_id, wallet.USER, numeric_id, "user")
    return User.model_validate(record)


def list_users(program_id: str, filters: dict[str, str], limit: int, cursor: str | None) -> tuple[list[User], str | None]:
    records, next_cursor = wallet.list_page(program_id, wallet.USER, filters, limit, cursor)
    return [User.model_validate(r) for r in records], next_cursor


def _save(program_id: str, numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any],
          guards: dict[str, dict[str, Any]]) -> User:
    """Write a changed user: move the user_id guard if it changed, link and unlink cards, keep the wallet on
    the guard; one transaction. `guards` holds the card guards already read (more are read if needed)."""
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    new["gift_cards"] = list(new.get("gift_cards") or [])
    old_cards, new_cards = current.get("gift_cards", []), new["gift_cards"]
    added = [c for c in new_cards if c not in old_cards]
    removed = [c for c in old_cards if c not in new_cards]
    renamed = new["user_id"] != current["user_id"]
    amazon_changed = new["amazon_id"] != current.get("amazon_id")
    wallet_changed = bool(added or removed)
    needed = [c for c in (new_cards + removed if wallet_changed or renamed else []) if c not in guards]
    guards = {**guards, **wallet.guards(program_id, wallet.CARD, needed)}
    to_link = _resolve_cards(program_id, added, new["user_id"], guards)
    tx = Transaction()
    wallet.tx_replace(tx, program_id, wallet.USER, new, version)
    wallet_cards = {c: int(guards[c]["ref_id"]) for c in new_cards if c in guards}
    if renamed:
        wallet.tx_release_unique(tx, program_id, wallet.USER, current["user_id"], numeric_id, require_no_cards=True)
        wallet.tx_claim_unique(tx, program_id, wallet.USER, new["user_id"], numeric_id,
                               {"wallet_cards": wallet_cards, "amazon_id": new["amazon_id"]})
    elif wallet_changed or amazon_changed:
        wallet.tx_set_wallet(tx, program_id, new["user_id"], numeric_id, wallet_cards if wallet_changed else None,
                             amazon_id=new["amazon_id"] if amazon_changed else None)
    if amazon_changed and current.get("amazon_id"):
        wallet.tx_release_amazon(tx, program_id, current["amazon_id"], numeric_id)
    if amazon_changed or renamed:  # the Amazon account's guard names the user_id: written anew
        wallet.tx_claim_amazon(tx, program_id, new["amazon_id"], numeric_id, new["user_id"])
    for card_id, card_number in to_link.items():
        wallet.tx_link_card(tx, program_id, card_number, new["user_id"], True, f"card:{card_id}", card_id, numeric_id)
    for card_id in removed:
        guard = guards.get(card_id)
        if guard is not None:
            wallet.tx_link_card(tx, program_id, int(guard["ref_id"]), current["user_id"], False, f"unlink:{card_id}")
    _commit_links(program_id, tx, {
        "unique": _user_id_taken(new["user_id"]),
        "amazon": _amazon_id_taken(new["amazon_id"]),
        "release_unique": Conflict(f"user_id cannot change while gift cards are registered to "
                                   f"'{current['user_id']}'", fields=[field_error("user_id", "has gift cards",
                                                                                  "has_cards")]),
    }, to_link, new["user_id"], guards, stale_labels=("record", "unlink", "wallet"))
    if to_link:
        metrics.add_metric(name="GiftCardLinked", unit="Count", value=len(to_link))
    logger.info("user updated", extra={"id": numeric_id, "linked": len(to_link), "unlinked": len(removed)})
    return User.model_validate(new)


def _write(program_id: str, numeric_id: int, fields: dict[str, Any], new_fields: Callable[[dict[str, Any]], dict[str, Any]]) -> User:
    """PUT and PATCH. A request that leaves the wallet alone is one conditional UpdateItem (the user_id, the
    amazon_id (its guard would move) and the stored gift_cards must be what the request assumes, else the general path runs from the stored
    record the failed condition returned). A request naming cards reads the user and the named cards'
    guards in one BatchGetItem, then writes one transaction. Either general path is retried from fresh
    reads when the user changes meanwhile."""
    if "gift_cards" in fields:
        fields["gift_cards"] = list(fields["gift_cards"] or [])
    named: list[str] = fields.get("gift_cards") or []
    first: tuple[dict[str, Any], int] | None
    if not named:
        unchanged: dict[str, Any] = {name: fields[name] for name in ("user_id", "amazon_id", "gift_cards")
                                     if name in fields}
        result = wallet.update_in_place(program_id, wallet.USER, numeric_id, {**fields, "updated_at": wallet.now_iso()},
                                        unchanged)
        if not isinstance(result, wallet.Changed):
            return User.model_validate(result)
        first, guards = result.current, {}
    else:
        user_key = keys.entity_key(program_id, wallet.USER.name, numeric_id)
        found = batch_get([user_key, *(keys.unique_key(program_id, wallet.CARD.name, c) for c in named)])
        first = wallet.record_of(wallet.USER, found_in(found, user_key))
        guards = {c: g for c in named if (g := found_in(found, keys.unique_key(program_id, wallet.CARD.name, c))) is not None}
    if first is None:
        raise NotFound(f"No user with id {numeric_id}")

    def attempt() -> User:
        nonlocal first
        current, version = first or load(program_id, wallet.USER, numeric_id, "user")
        first = None
        return _save(program_id, numeric_id, current, version, new_fields(current), guards)

    return with_retries(attempt)


def replace_user(program_id: str, numeric_id: int, body: UserReplace) -> User:
    check_body_id(body, numeric_id)
    new = body.model_dump(mode="python", exclude={"id"})
    return _write(program_id, numeric_id, new, lambda _current: dict(new))


def update_user(program_id: str, numeric_id: int, patch: UserPatch) -> User:
    check_body_id(patch, numeric_id)
    changes = checked_patch(program_id, wallet.USER, "user", numeric_id, patch, REQUIRED)
    return _write(program_id, numeric_id, changes, lambda current: {**current, **changes})


def delete_user(program_id: str, numeric_id: int) -> None:
    def attempt() -> None:
        current, version = load(program_id, wallet.USER, numeric_id, "user")
        tx = Transaction()
        wallet.tx_delete(tx, program_id, wallet.USER, numeric_id, version)
        wallet.tx_release_unique(tx, program_id, wallet.USER, current["user_id"], numeric_id, require_no_cards=True)
        if current.get("amazon_id"):
            wallet.tx_release_amazon(tx, program_id, current["amazon_id"], numeric_id)
        commit(tx, {"release_unique": Conflict(
            f"User '{current['user_id']}' still has gift cards registered; delete or move them first")})
        logger.info("user deleted", extra={"id": numeric_id})

    with_retries(attempt)
