"""How an authorization's holds close, as pure functions (no I/O): which part of each card's hold a capture
takes, and what goes back to the card. Holds are taken in the order the authorization placed them (its
allocation order), so a partial capture keeps the cards the payment would have used first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal("0")


@dataclass(frozen=True)
class HoldSettlement:
    """One card's hold as it closes: `captured` of it becomes the payment's, the rest is released."""

    card_id: str
    gift_card_id: int
    hold: Decimal
    captured: Decimal

    @property
    def released(self) -> Decimal:
        return self.hold - self.captured


def _holds(holds: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, Decimal]]:
    return [(str(h["card_id"]), int(h["gift_card_id"]), Decimal(h["amount"])) for h in holds]


def held_total(holds: Iterable[Mapping[str, Any]]) -> Decimal:
    return sum((amount for _, _, amount in _holds(holds)), ZERO)


def split_capture(holds: Iterable[Mapping[str, Any]], amount: Decimal) -> list[HoldSettlement]:
    """Capture `amount` (at most the holds' total) from the holds in order; each hold's rest is released."""
    left, settled = amount, []
    for card_id, gift_card_id, hold in _holds(holds):
        take = min(left, hold)
        left -= take
        settled.append(HoldSettlement(card_id, gift_card_id, hold, take))
    if left > ZERO:
        raise ValueError("capture exceeds the holds")
    return settled


def release_all(holds: Iterable[Mapping[str, Any]]) -> list[HoldSettlement]:
    """A void or the expiry: every hold goes back whole."""
    return [HoldSettlement(card_id, gift_card_id, hold, ZERO) for card_id, gift_card_id, hold in _holds(holds)]
