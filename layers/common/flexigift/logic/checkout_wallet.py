"""What a checkout plans with: the shopper (by Flexigift user_id or by Amazon account), the priced items,
and the wallet's cards with their versions, read with BatchGetItem (strongly consistent). Shared by the
quote and the payment use cases; nothing here writes.

By Amazon account: the guard `P#<p>#UNIQUE#AMAZON#<amazon_id>` (written with the user, store.keys.amazon_key)
names the user_id; its user's guard, read next, names the wallet's cards. By user_id: the user's guard is in
the first read and carries the amazon_id."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flexigift.errors import CardUnusable, Conflict, NotFound, field_error
from flexigift.logic import gift_cards
from flexigift.logic.allocation import CardFunds, Line, Plan, allocate, issuer_matches, unusable_reason
from flexigift.models.checkout import QuoteRequest
from flexigift.models.common import money_string
from flexigift.store import keys, wallet
from flexigift.store.table import batch_get, found_in


@dataclass
class PricedLine:
    product: dict[str, Any]
    quantity: int

    @property
    def line(self) -> Line:
        return Line(product_id=self.product["product_id"], eligible_issuer=self.product["eligible_issuer"],
                    amount=Decimal(self.product["price"]) * self.quantity)


@dataclass
class Wallet:
    """What a quote or payment plans with: the user, priced items, and the cards with their versions."""

    user_id: str
    amazon_id: str | None
    lines: list[PricedLine]
    cards: list[CardFunds]
    versions: dict[int, int]
    named: bool


def card_funds(record: dict[str, Any]) -> CardFunds:
    return CardFunds(card_id=record["card_id"], gift_card_id=int(record["id"]), issuer=record["issuer"],
                     balance=Decimal(record["balance"]), expiry_date=str(record["expiry_date"]),
                     state=str(record.get("state", "ACTIVE")), held=Decimal(record.get("held") or 0))


def _in_wallet(record: dict[str, Any], user_id: str) -> bool:
    return bool(record.get("linked")) and record.get("user_id") == user_id


def shopper_key(program_id: str, body: QuoteRequest) -> dict[str, str]:
    """The guard the shopper is found by: the Amazon account's, or the user_id's."""
    if body.amazon_id is not None:
        return keys.amazon_key(program_id, body.amazon_id)
    assert body.user_id is not None  # noqa: S101 - QuoteRequest names exactly one
    return keys.unique_key(program_id, wallet.USER.name, body.user_id)


def first_reads(program_id: str, body: QuoteRequest, *extra: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """One BatchGetItem: the shopper's guard (the user's names the wallet's cards; the Amazon account's names
    the user), each product's guard, and any `extra` item the caller needs (an Idempotency-Key claim)."""
    return batch_get([*extra, shopper_key(program_id, body),
                      *(keys.unique_key(program_id, wallet.PRODUCT.name, item.product_id) for item in body.items)],
                     cached=True)  # the products' guards may come from the ReadCache; the rest never does


def _unknown_shopper(body: QuoteRequest) -> dict[str, str]:
    if body.amazon_id is not None:
        return field_error("amazon_id", f"no user with Amazon account '{body.amazon_id}' is registered",
                           "unknown_user")
    return field_error("user_id", f"no user '{body.user_id}' is registered", "unknown_user")


def _user_guard(program_id: str, body: QuoteRequest,
                first: dict[tuple[str, str], dict[str, Any]]) -> tuple[str | None, dict[str, Any] | None]:
    """(user_id, the user's guard) of the shopper; (None, None) when no such shopper is registered. By Amazon
    account it takes one more read (the user's guard, which the Amazon account's guard names)."""
    guard = found_in(first, shopper_key(program_id, body))
    if body.amazon_id is None or guard is None:
        return body.user_id, guard
    user_id = str(guard["user_id"])
    user_guard = wallet.get_unique(program_id, wallet.USER, user_id)
    if user_guard is None or int(user_guard["ref_id"]) != int(guard["ref_id"]):
        return None, None
    return user_id, user_guard


def read_wallet(program_id: str, body: QuoteRequest, first: dict[tuple[str, str], dict[str, Any]] | None = None) -> Wallet:
    """The user, the products and the user's linked cards; unknown user or products are 404, named cards
    that are not in the wallet or cannot be used are refused before anything is planned.

    Two BatchGetItem requests (three by Amazon account): the guards of the natural ids (`first`, from first_reads), then the
    products and cards they name. The user's guard carries the wallet (`wallet_cards`: card_id -> numeric
    id of each linked card), so the user item itself is not needed; a guard written before it carried the
    wallet is followed through the user item and the cards' guards instead."""
    first = first_reads(program_id, body) if first is None else first
    missing = []
    user_id, user_guard = _user_guard(program_id, body, first)
    if user_guard is None or user_id is None:
        missing.append(_unknown_shopper(body))
        user_guard = None
    product_guards = [found_in(first, keys.unique_key(program_id, wallet.PRODUCT.name, i.product_id)) for i in body.items]
    product_keys = [keys.entity_key(program_id, wallet.PRODUCT.name, int(g["ref_id"])) for g in product_guards if g]
    refs: dict[str, int] | None = None
    second_keys = list(product_keys)
    if user_guard is not None:
        if "wallet_cards" in user_guard:
            refs = {card_id: int(n) for card_id, n in user_guard["wallet_cards"].items()}
            second_keys += [keys.entity_key(program_id, wallet.CARD.name, n) for n in refs.values()]
        else:  # a guard from before the wallet was kept on it
            second_keys.append(keys.entity_key(program_id, wallet.USER.name, int(user_guard["ref_id"])))
    second = batch_get(second_keys, cached=True) if second_keys else {}  # products cached; cards never
    lines = []
    for position, (item, guard) in enumerate(zip(body.items, product_guards, strict=True)):
        found = wallet.record_of(wallet.PRODUCT, found_in(second, keys.entity_key(
            program_id, wallet.PRODUCT.name, int(guard["ref_id"])))) if guard else None
        if found is None:
            missing.append(field_error(f"items[{position}].product_id",
                                       f"no product '{item.product_id}' is registered", "unknown_product"))
        else:
            lines.append(PricedLine(product=found[0], quantity=item.quantity))
    if user_guard is not None and refs is None:
        user = wallet.record_of(wallet.USER, found_in(second, keys.entity_key(program_id, wallet.USER.name,
                                                                              int(user_guard["ref_id"]))))
        if user is None:
            missing.insert(0, _unknown_shopper(body))
        else:
            refs = {c: int(g["ref_id"]) for c, g in wallet.guards(program_id, wallet.CARD, user[0].get("gift_cards", [])).items()}
            second.update(batch_get([keys.entity_key(program_id, wallet.CARD.name, n) for n in refs.values()]) if refs else {})
    if missing:
        raise NotFound("Unknown " + " and ".join(sorted({f["type"].removeprefix("unknown_") for f in missing})),
                       fields=missing)
    assert refs is not None and user_id is not None and user_guard is not None  # noqa: S101 - refused above
    records: dict[str, tuple[dict[str, Any], int]] = {}
    for card_id, number in refs.items():
        found = wallet.record_of(wallet.CARD, found_in(second, keys.entity_key(program_id, wallet.CARD.name, number)))
        if found is not None and found[0]["card_id"] == card_id and _in_wallet(found[0], user_id):
            records[card_id] = found
    if body.cards is not None:
        records = _named_cards(body.cards, records, [pl.line for pl in lines])
    amazon_id = body.amazon_id if body.amazon_id is not None else user_guard.get("amazon_id")
    return Wallet(user_id=user_id, amazon_id=amazon_id, lines=lines, cards=[card_funds(r) for r, _ in records.values()],
                  versions={int(r["id"]): v for r, v in records.values()}, named=body.cards is not None)


def _named_cards(named: list[str], records: dict[str, tuple[dict[str, Any], int]],
                 lines: list[Line]) -> dict[str, tuple[dict[str, Any], int]]:
    """The caller's chosen cards, in the caller's order; each must be in the wallet, usable, and able to
    pay for at least one of the items."""
    unknown, useless, unusable = [], [], []
    today = gift_cards.today()
    for position, card_id in enumerate(named):
        field = f"cards[{position}]"
        if card_id not in records:
            unknown.append(field_error(field, f"gift card '{card_id}' is not linked to this user's wallet",
                                       "not_in_wallet"))
            continue
        funds = card_funds(records[card_id][0])
        reason = unusable_reason(funds, today)
        if reason:
            unusable.append(field_error(field, f"gift card '{card_id}' {reason}", "card_unusable"))
        elif not any(issuer_matches(funds, line) for line in lines):
            useless.append(field_error(field, f"gift card '{card_id}' ({funds.issuer}) cannot pay for any of "
                                              "these items", "issuer_mismatch"))
    if unknown:  # names a card the user's wallet does not hold
        raise NotFound("Some of the named cards are not in this user's wallet", fields=unknown + useless)
    if useless:  # the cards exist, but their issuer cannot pay for these items: a conflict with their state
        raise Conflict("Some of the named cards cannot pay for any of these items", fields=useless)
    if unusable:
        raise CardUnusable("Some of the named cards cannot be debited: " +
                           "; ".join(f["message"] for f in unusable), fields=unusable)
    return {card_id: records[card_id] for card_id in named}


def reread_cards(program_id: str, current: Wallet) -> Wallet:
    """Fresh reads of the planned cards after a lost race (by numeric id: one BatchGetItem)."""
    fresh = batch_get([keys.entity_key(program_id, wallet.CARD.name, f.gift_card_id) for f in current.cards])
    cards, versions = [], {}
    for funds in current.cards:
        found = wallet.record_of(wallet.CARD, found_in(fresh, keys.entity_key(program_id, wallet.CARD.name, funds.gift_card_id)))
        if found is None or not _in_wallet(found[0], current.user_id):
            if current.named:
                raise CardUnusable(f"gift card '{funds.card_id}' left the wallet during this payment",
                                   fields=[field_error("cards", f"'{funds.card_id}' is no longer linked",
                                                       "card_unusable")])
            continue
        record, version = found
        cards.append(card_funds(record))
        versions[int(record["id"])] = version
    return Wallet(user_id=current.user_id, amazon_id=current.amazon_id, lines=current.lines, cards=cards,
                  versions=versions, named=current.named)


def plan(checkout: Wallet) -> Plan:
    return allocate([pl.line for pl in checkout.lines], checkout.cards, gift_cards.today(), named=checkout.named)


def amount_text(value: Decimal) -> str:
    return money_string(value)


def allocations(plan: Plan) -> list[dict[str, Any]]:
    """What each card would give, as stored on a payment and shown by a quote."""
    return [{"card_id": d.card.card_id, "gift_card_id": d.card.gift_card_id, "amount": d.amount,
             "balance_after": d.balance_after} for d in plan.debits]
