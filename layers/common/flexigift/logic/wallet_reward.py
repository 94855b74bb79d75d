"""A reward paid into a Flexigift wallet (delivery method 3): the order's gift card becomes a card of the
user's wallet, with the catalog item's issuer, balance = the amount, expiry = the code's valid_till, linked to
the user, its code kept only as the order's KMS ciphertext. It is written in the order's own transaction
(order, claim, card, its card_id guard, its ACTIVATE ledger entry, the user's wallet), so the reward is in
the wallet exactly once or not at all; from then on it pays through checkout like any card of its issuer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flexigift.errors import Conflict, NotFound, field_error
from flexigift.settings import get_settings
from flexigift.store import ledger, wallet
from flexigift.store.table import Transaction


def check_wallet_delivery(item: dict[str, Any], user_id: str, user_guard: dict[str, Any] | None) -> None:
    """The item names the issuer of its gift card, and the user is one of the caller's program."""
    if not item.get("issuer"):
        raise Conflict(f"Reward {item['rewards_id']} names no issuer, so it cannot be paid into a wallet "
                       "(no product could be bought with it)",
                       fields=[field_error("reward_id", "has no issuer", "no_issuer")])
    if user_guard is None:  # the request names a record that does not exist: 404, as everywhere
        raise NotFound(f"No user with user_id '{user_id}' is registered in this program",
                       fields=[field_error("user_id", f"no user '{user_id}' is registered", "unknown_user")])


def new_card(program_id: str, order: dict[str, Any], item: dict[str, Any], user_id: str,
             user_guard: dict[str, Any]) -> dict[str, Any]:
    """The gift card the order puts in the wallet (its numeric id taken now: a refused order leaves a gap)."""
    return {
        "id": wallet.next_id(program_id, wallet.CARD),
        "card_id": "reward-" + order["order_id"].removeprefix("ro_"),
        "user_id": user_id,
        "issuer": item["issuer"],
        "balance": Decimal(order["amount"]),
        "expiry_date": order["valid_till"],
        "state": "ACTIVE",
        "linked": True,
        "owner_ref": int(user_guard["ref_id"]),
        "refundable": Decimal("0"),
        "reward_order_id": order["order_id"],
        "code_ciphertext": order["code_ciphertext"],   # sealed for this order id (vault): opens with it only
        "code_last4": order["code_last4"],
        "created_at": order["created_at"],
        "updated_at": order["created_at"],
    }


def tx_deliver(tx: Transaction, program_id: str, card: dict[str, Any], key_id: str) -> None:
    """The card, its guard, its opening ledger entry and its place in the owner's wallet."""
    wallet.tx_insert(tx, program_id, wallet.CARD, card)
    ledger.tx_append(tx, program_id, gift_card_id=card["id"], card_id=card["card_id"], sequence=1,
                     activity_type="ACTIVATE", amount=card["balance"], balance_after=card["balance"],
                     reference=card["reward_order_id"], created_at=card["created_at"], key_id=key_id)
    wallet.tx_link_new_card(tx, program_id, user_id=card["user_id"], user_numeric_id=card["owner_ref"],
                            card_id=card["card_id"], card_numeric_id=card["id"],
                            max_cards=get_settings().max_cards_per_user, now=card["created_at"])


def wallet_refused(failed: list[str]) -> Conflict | None:
    """The error for a wallet that changed under the order (the user renamed, deleted, or full)."""
    if any(label.startswith("wallet:") for label in failed):
        return Conflict("The user's wallet could not take the reward (the user changed, or holds the most cards a "
                        "wallet may); nothing was ordered",
                        fields=[field_error("user_id", "wallet unavailable or full", "wallet_unavailable")])
    return None
