"""Rewards programs: every API key belongs to one (program_id, set when the key is issued), and the
program decides which delivery methods its keys may use (the seed: "We may enable / disable different
redemption options based on the usecase mentioned during your program creation").

A program is an item PROGRAM#<id> with `delivery_methods`. The "default" program needs no item: while
none is stored it allows both methods, so a fresh stack (and its bootstrap key) can order either way.
Any other program must be configured before its keys can order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flexigift.errors import Forbidden
from flexigift.models.rewards import DeliveryMethod
from flexigift.store import rewards as store
from flexigift.store.wallet import now_iso

DEFAULT_PROGRAM = "default"
ALL_METHODS = frozenset(m.value for m in DeliveryMethod)


def delivery_methods(program_id: str) -> frozenset[int]:
    return methods_of(program_id, store.get_program(program_id))


def methods_of(program_id: str, program: dict[str, Any] | None) -> frozenset[int]:
    """The methods a program's keys may use, from its item as read (None: no item is stored)."""
    if program is None:
        if program_id == DEFAULT_PROGRAM:
            return ALL_METHODS
        raise Forbidden(f"Program '{program_id}' is not set up for Giftcard Rewards; "
                        "ask Flexigift support to enable a delivery method for it")
    return frozenset(int(m) for m in program.get("delivery_methods", []))


def configure_program(program_id: str, methods: Iterable[int]) -> frozenset[int]:
    """Enable exactly these delivery methods for a program (operations and tests; no public route)."""
    chosen = sorted({DeliveryMethod(int(m)).value for m in methods})
    store.put_program(program_id, chosen, now_iso())
    return frozenset(chosen)
