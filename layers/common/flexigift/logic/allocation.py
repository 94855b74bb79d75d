"""Which gift cards pay for which items: pure functions, no I/O, so every rule can be unit-tested.

A card can pay for an item when its issuer is the item's eligible issuer (compared case-insensitively),
it is ACTIVE (not BLOCKED), not expired on `today`, and holds a positive balance. Cards are used in
the order the caller named them or, by default, soonest expiry first, then smallest balance (spend
what would be lost first, and empty small cards before big ones). Because each card has one issuer and
each item one eligible issuer, the items of one issuer share that issuer's cards only, and the greedy
order pays the most that can be paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True)
class Line:
    """An item to pay for: a product's price times the quantity."""

    product_id: str
    eligible_issuer: str
    amount: Decimal


@dataclass(frozen=True)
class CardFunds:
    """What allocation needs to know about a card, as last read."""

    card_id: str
    gift_card_id: int
    issuer: str
    balance: Decimal
    expiry_date: str      # ISO 8601, so string order is date order
    state: str            # stored state: ACTIVE or BLOCKED
    held: Decimal = ZERO  # open authorization holds (already out of `balance`)


@dataclass
class LinePlan:
    line: Line
    eligible: list[CardFunds]                 # cards that can pay for it, in spending order
    debits: list[tuple[str, Decimal]] = field(default_factory=list)   # (card_id, amount)

    @property
    def paid(self) -> Decimal:
        return sum((amount for _, amount in self.debits), ZERO)

    @property
    def remainder(self) -> Decimal:
        return self.line.amount - self.paid


@dataclass
class CardDebit:
    card: CardFunds
    amount: Decimal

    @property
    def balance_after(self) -> Decimal:
        return self.card.balance - self.amount


@dataclass
class Plan:
    lines: list[LinePlan]
    debits: list[CardDebit]   # one per card used, in the order cards were first used

    @property
    def total(self) -> Decimal:
        return sum((lp.line.amount for lp in self.lines), ZERO)

    @property
    def payable(self) -> Decimal:
        return sum((d.amount for d in self.debits), ZERO)

    @property
    def remainder(self) -> Decimal:
        return self.total - self.payable


def unusable_reason(card: CardFunds, today: date) -> str | None:
    """Why a card cannot be debited today, or None if it can (a zero balance is not a reason)."""
    if card.state != "ACTIVE":
        return f"is {card.state}"
    if card.expiry_date < today.isoformat():
        return f"expired on {card.expiry_date}"
    return None


def issuer_matches(card: CardFunds, line: Line) -> bool:
    return card.issuer.casefold() == line.eligible_issuer.casefold()


def spending_order(cards: list[CardFunds]) -> list[CardFunds]:
    """Default order: soonest expiry first, then smallest balance; card_id breaks ties stably."""
    return sorted(cards, key=lambda c: (c.expiry_date, c.balance, c.card_id))


def allocate(lines: list[Line], cards: list[CardFunds], today: date, *, named: bool = False) -> Plan:
    """Plan the debits. `cards` are the user's linked cards; with named=True they are the caller's
    chosen cards in the caller's order, otherwise they are put in the default spending order."""
    ordered = list(cards) if named else spending_order(cards)
    payable = [c for c in ordered if unusable_reason(c, today) is None and c.balance > ZERO]
    left = {c.card_id: c.balance for c in payable}
    used: dict[str, CardDebit] = {}
    plans = []
    for line in lines:
        plan = LinePlan(line=line, eligible=[c for c in payable if issuer_matches(c, line)])
        due = line.amount
        for card in plan.eligible:
            if due <= ZERO:
                break
            take = min(due, left[card.card_id])
            if take <= ZERO:
                continue
            left[card.card_id] -= take
            due -= take
            plan.debits.append((card.card_id, take))
            debit = used.setdefault(card.card_id, CardDebit(card=card, amount=ZERO))
            debit.amount += take
        plans.append(plan)
    return Plan(lines=plans, debits=list(used.values()))
