"""Gift cards: register a third-party card for a user, read, list, replace, update, delete.

A card's balance moves only through its ledger: it opens with the registered balance (ACTIVATE), and after
that only payments, refunds and balance activities (logic.adjust_balance) change it, each in one transaction
with its entry. PUT and PATCH accept the stored balance (so a client may send back what it read) and refuse
any other. Once money has moved on a card (`money_moved`, set by every debit and activity), its card_id,
issuer and owner are fixed. A card holding a balance, or debited by payments that may still be refunded to
it (`refundable`), cannot be deleted."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any

from flexigift.api import Caller
from flexigift.errors import Conflict, NotFound, ValidationFailed, field_error
from flexigift.logic.authority import issuer_filter, require_issuer
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
from flexigift.store import events, keys, ledger, wallet
from flexigift.store.table import Transaction, batch_get, found_in

FILTERS = ("card_id", "user_id", "issuer")
REQUIRED = ("card_id", "user_id", "issuer", "balance", "expiry_date", "state")
IDENTITY = ("card_id", "issuer", "user_id")


def today() -> date:
    return datetime.now(timezone.utc).date()


def _card_id_taken(card_id: str) -> Conflict:
    return Conflict(f"card_id '{card_id}' is already registered",
                    fields=[field_error("card_id", "already registered", "duplicate")])


def _unknown_user(user_id: str) -> NotFound:
    return NotFound(f"No user with user_id '{user_id}' is registered; register the user first",
                            fields=[field_error("user_id", f"no user '{user_id}' is registered", "unknown_user")])


def _balance_not_settable(numeric_id: int) -> ValidationFailed:
    return ValidationFailed(
        f"A card's balance changes only through its ledger: send the stored balance or leave it out, and "
        f"POST /gift_cards/{numeric_id}/activities (LOAD, ADJUST_INCREMENT, ADJUST_DECREMENT) to change it",
        fields=[field_error("balance", "must equal the stored balance; use the activities route to change it",
                            "balance_not_settable")])


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    if record.get("expiry_date") is not None:
        record["expiry_date"] = str(record["expiry_date"])
    state = record.get("state")
    if state is not None:
        record["state"] = getattr(state, "value", state)
    return record


def load_card(who: Caller, numeric_id: int) -> tuple[dict[str, Any], int]:
    """A card of the caller's program (404 otherwise) that the caller may act on (403 for an issuer key
    bound to another issuer)."""
    record, version = load(who.program_id, wallet.CARD, numeric_id, "gift card")
    require_issuer(who, record["issuer"], "gift cards")
    return record, version


def register_card(who: Caller, body: GiftCardCreate) -> GiftCard:
    require_issuer(who, body.issuer, "gift cards")
    program_id = who.program_id
    record = _stored(body.model_dump(mode="python"))
    record["linked"] = False
    record["refundable"] = Decimal("0")
    record["id"] = wallet.next_id(program_id, wallet.CARD)
    record["created_at"] = record["updated_at"] = wallet.now_iso()
    tx = Transaction()
    wallet.tx_insert(tx, program_id, wallet.CARD, record)
    wallet.tx_count_cards(tx, program_id, record["user_id"], +1, "user")
    # the ledger opens with the registered balance; a new card's version is 1 (see store.ledger)
    ledger.tx_append(tx, program_id, gift_card_id=record["id"], card_id=record["card_id"], sequence=1,
                     activity_type="ACTIVATE", amount=record["balance"], balance_after=record["balance"],
                     created_at=record["created_at"], key_id=who.key_id)
    commit(tx, {"unique": _card_id_taken(record["card_id"]), "user": _unknown_user(record["user_id"])})
    logger.info("gift card registered", extra={"id": record["id"], "issuer": record["issuer"]})
    return GiftCard.from_record(record, today())


def get_card(who: Caller, numeric_id: int) -> GiftCard:
    record, _ = load_card(who, numeric_id)
    return GiftCard.from_record(record, today())


def list_cards(who: Caller, filters: dict[str, str], limit: int,
               cursor: str | None) -> tuple[list[GiftCard], str | None]:
    records, next_cursor = wallet.list_page(who.program_id, wallet.CARD, issuer_filter(who, filters, "issuer"),
                                            limit, cursor)
    day = today()
    return [GiftCard.from_record(r, day) for r in records], next_cursor


def _check_change(who: Caller, numeric_id: int, current: dict[str, Any], new: dict[str, Any]) -> None:
    """The rules of a change to a stored card, on the card as read: the caller's issuer binding (old and new
    issuer), the balance that only the ledger moves, and the identity fixed once money has moved."""
    require_issuer(who, current["issuer"], "gift cards")
    require_issuer(who, new["issuer"], "gift cards")
    if Decimal(new["balance"]) != Decimal(current["balance"]):
        raise _balance_not_settable(numeric_id)
    changed = [name for name in IDENTITY if new[name] != current[name]]
    if changed and current.get("money_moved"):
        raise Conflict(f"Money has moved on gift card '{current['card_id']}', so its {', '.join(changed)} can no "
                       "longer change; register a new card instead",
                       fields=[field_error(name, "fixed once money has moved on the card", "identity_fixed")
                               for name in changed])


def _save(who: Caller, numeric_id: int, current: dict[str, Any], version: int, new: dict[str, Any]) -> GiftCard:
    program_id = who.program_id
    new = _stored(new)
    if new.get("state") is None:  # a PUT that leaves out state keeps the current state
        new["state"] = current.get("state", "ACTIVE")
    if new.get("balance") is None:
        new["balance"] = current["balance"]
    _check_change(who, numeric_id, current, new)
    new["id"], new["created_at"], new["updated_at"] = numeric_id, current["created_at"], wallet.now_iso()
    for kept in ("linked", "owner_ref", "money_moved", "refundable", "held",  # written only by links and money moves
                 "code_ciphertext", "code_last4", "reward_order_id"):       # and by a reward paid into the wallet
        if current.get(kept) is not None:
            new[kept] = current[kept]
    new["linked"] = bool(current.get("linked", False))
    moved = new["user_id"] != current["user_id"]
    renamed = new["card_id"] != current["card_id"]
    if new["linked"] and (moved or renamed):
        raise Conflict(f"Gift card '{current['card_id']}' is linked to the wallet of '{current['user_id']}': "
                       "unlink it (PUT or PATCH the user's gift_cards) before changing card_id or user_id")
    tx = Transaction()
    wallet.tx_replace(tx, program_id, wallet.CARD, new, version)
    if renamed:
        wallet.tx_release_unique(tx, program_id, wallet.CARD, current["card_id"], numeric_id)
        wallet.tx_claim_unique(tx, program_id, wallet.CARD, new["card_id"], numeric_id)
    if moved:
        wallet.tx_count_cards(tx, program_id, current["user_id"], -1, "old_user")
        wallet.tx_count_cards(tx, program_id, new["user_id"], +1, "user")
    answer = GiftCard.from_record(new, today())
    if new["state"] != current.get("state", "ACTIVE"):
        events.tx_put_event(tx, program_id, "gift_card.state_changed", answer, new["updated_at"])
    commit(tx, {"unique": _card_id_taken(new["card_id"]), "user": _unknown_user(new["user_id"])},
           stale_labels=("record", "release_unique", "old_user"))
    logger.info("gift card updated", extra={"id": numeric_id})
    return answer


def _in_place(who: Caller, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A card is one item unless its identity (card_id: guard; user_id: owners' card counts; issuer: fixed
    once money moved) changes: the update holds them, the balance and (for an issuer key) the issuer equal
    to what the request names, or the general path runs and explains what is refused. Without an issuer and a
    card_id in the request, the caller's binding cannot be held by the condition: the general path."""
    changes = _stored(fields)
    for kept in ("state", "balance"):  # PUT without them keeps the stored ones
        if kept in changes and changes[kept] is None:
            changes.pop(kept)
    if who.issuer is not None and "issuer" not in changes:
        return None
    if who.issuer is not None:
        require_issuer(who, changes["issuer"], "gift cards")
    # a state that changes goes through the general path, whose transaction also writes the state_changed event:
    # in place, the state sent must be the stored one
    unchanged = {name: changes[name] for name in (*IDENTITY, "balance", "state") if name in changes}
    sets = {k: v for k, v in changes.items() if k not in unchanged}
    return {**sets, "updated_at": wallet.now_iso()}, unchanged


def _in_place_for(who: Caller) -> InPlace[GiftCard]:
    return InPlace(plan=partial(_in_place, who), answer=lambda record: GiftCard.from_record(record, today()))


def replace_card(who: Caller, numeric_id: int, body: GiftCardReplace) -> GiftCard:
    return replace_record(who.program_id, wallet.CARD, "gift card", numeric_id, body, partial(_save, who),
                          _in_place_for(who))


def update_card(who: Caller, numeric_id: int, patch: GiftCardPatch) -> GiftCard:
    return update_record(who.program_id, wallet.CARD, "gift card", numeric_id, patch, REQUIRED,
                         partial(_save, who), _in_place_for(who))


def _owner(program_id: str, card: dict[str, Any]) -> tuple[tuple[dict[str, Any], int] | None,
                                                            dict[str, Any] | None]:
    """The user whose wallet holds a linked card, and that user's guard: one BatchGetItem when the card names
    its owner's numeric id (owner_ref, written when it was linked), else through the guard first."""
    guard_key = keys.unique_key(program_id, wallet.USER.name, card["user_id"])
    if card.get("owner_ref") is not None:
        user_key = keys.entity_key(program_id, wallet.USER.name, int(card["owner_ref"]))
        found = batch_get([user_key, guard_key])
        guard = found_in(found, guard_key)
        owner = wallet.record_of(wallet.USER, found_in(found, user_key))
        if owner is not None and owner[0]["user_id"] == card["user_id"]:
            return owner, guard
    guard = wallet.get_unique(program_id, wallet.USER, card["user_id"])
    return (wallet.get(program_id, wallet.USER, int(guard["ref_id"])) if guard else None), guard


def _refuse_delete(current: dict[str, Any]) -> None:
    balance, refundable = Decimal(current["balance"]), Decimal(current.get("refundable", 0))
    held = Decimal(current.get("held") or 0)
    reasons = []
    if balance != 0:
        reasons.append(f"it holds a balance of {balance}: bring it to 0 with an ADJUST_DECREMENT activity first")
    if refundable != 0:
        reasons.append(f"payments that debited it may still refund {refundable} to it")
    if held != 0:
        reasons.append(f"authorizations hold {held} on it until they are captured, voided or expire")
    if reasons:
        raise Conflict(f"Gift card '{current['card_id']}' cannot be deleted: " + "; ".join(reasons),
                       fields=[field_error("id", "; ".join(reasons), "card_in_use")])


def delete_card(who: Caller, numeric_id: int) -> None:
    """Delete a card that holds nothing and owes nothing; if it is linked, it leaves the user's gift_cards in
    the same transaction. The version condition holds balance and refundable as read."""
    program_id = who.program_id

    def attempt() -> None:
        current, version = load_card(who, numeric_id)
        _refuse_delete(current)
        tx = Transaction()
        wallet.tx_delete(tx, program_id, wallet.CARD, numeric_id, version)
        wallet.tx_release_unique(tx, program_id, wallet.CARD, current["card_id"], numeric_id)
        unlink = None
        if current.get("linked"):
            owner, guard = _owner(program_id, current)
            if owner is not None:
                user, user_version = owner
                user["gift_cards"] = [c for c in user.get("gift_cards", []) if c != current["card_id"]]
                user["updated_at"] = wallet.now_iso()
                wallet.tx_replace(tx, program_id, wallet.USER, user, user_version, label="owner")
            if guard is not None and current["card_id"] in guard.get("wallet_cards", {}):
                unlink = current["card_id"]
        wallet.tx_count_cards(tx, program_id, current["user_id"], -1, "user", unlink_card_id=unlink)
        commit(tx, {}, stale_labels=("record", "release_unique", "user", "owner"))
        logger.info("gift card deleted", extra={"id": numeric_id})

    with_retries(attempt)
