"""Every key format of the single table, in one place. docs/access-patterns.md lists their uses.

Base table: PK / SK. Indexes (all project ALL attributes):
  GSI1  by type, ordered by numeric id     (list a collection)
  GSI2  by natural key                     (users?user_id=, gift_cards?card_id=, products?product_id=)
  GSI3  by first secondary attribute       (users?amazon_id=, gift_cards?user_id=, products?eligible_issuer=)
  GSI4  by second secondary attribute      (users?email=, gift_cards?issuer=)
"""

from __future__ import annotations

INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4")
TTL_ATTRIBUTE = "expires_at"


def pad_id(numeric_id: int) -> str:
    """Zero-padded so that string order is numeric order."""
    return f"{numeric_id:012d}"


def entity_key(kind: str, numeric_id: int) -> dict[str, str]:
    return {"PK": f"{kind}#{numeric_id}", "SK": kind}


def unique_key(kind: str, natural_id: str) -> dict[str, str]:
    """Guard item that makes a natural identifier (user_id, card_id, product_id) unique."""
    return {"PK": f"UNIQUE#{kind}#{natural_id}", "SK": "UNIQUE"}


def counter_key(kind: str) -> dict[str, str]:
    return {"PK": f"COUNTER#{kind}", "SK": "COUNTER"}


def index_partition(kind: str, attribute: str | None, value: str | None) -> str:
    """Partition value of a GSI: `USER` for the type listing, `USER#amazon_id#amz3456` for a lookup."""
    if attribute is None:
        return kind
    return f"{kind}#{attribute}#{value}"


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def api_key_pointer_key(key_id: str) -> dict[str, str]:
    return {"PK": f"APIKEYID#{key_id}", "SK": "APIKEYID"}


# --- checkout: ledger, payments, refunds, idempotency ----------------------------------------------


ACTIVITY_PREFIX = "ACTIVITY#"
REFUND_PREFIX = "REFUND#"


def activity_key(card_numeric_id: int, sequence: int) -> dict[str, str]:
    """A ledger entry of a card. It lives in the card's partition, so one Query reads the ledger in order;
    `sequence` is the card's version after the change, so entries sort as the balance changed."""
    return {"PK": f"CARD#{card_numeric_id}", "SK": f"{ACTIVITY_PREFIX}{pad_id(sequence)}"}


def payment_key(payment_id: str) -> dict[str, str]:
    return {"PK": f"PAYMENT#{payment_id}", "SK": "PAYMENT"}


def refund_key(payment_id: str, sequence: int) -> dict[str, str]:
    """A refund of a payment, in the payment's partition: one Query reads a payment with its refunds."""
    return {"PK": f"PAYMENT#{payment_id}", "SK": f"{REFUND_PREFIX}{pad_id(sequence)}"}


def idempotency_key(caller_key_id: str, operation: str, key: str) -> dict[str, str]:
    """An Idempotency-Key as one caller (API key) used it for one operation."""
    return {"PK": f"IDEMPOTENCY#{caller_key_id}#{operation}#{key}", "SK": "IDEMPOTENCY"}


# --- rewards: catalog, programs, orders, resend limits ------------------------------------------------


REWARD_TYPE = "REWARD"              # GSI1PK of every catalog item (the refresh reads them all, no Scan)
REWARD_ORDER_TYPE = "REWARD_ORDER"
RESEND_PREFIX = "RESENDS#"
REWARD_ORDER_IDEMPOTENCY_PARTITION = "IDEMPOTENCY#rewards_order"  # Powertools idempotency records (SK: hash)


def reward_key(rewards_id: int) -> dict[str, str]:
    return {"PK": f"{REWARD_TYPE}#{rewards_id}", "SK": REWARD_TYPE}


def reward_country_partition(country: str) -> str:
    """GSI2PK of a catalog item while it is available: the catalog of one country (a sparse index)."""
    return f"{REWARD_TYPE}#country#{country}"


def program_key(program_id: str) -> dict[str, str]:
    """A rewards program: which delivery methods its API keys may use."""
    return {"PK": f"PROGRAM#{program_id}", "SK": "PROGRAM"}


def reward_order_key(order_id: str) -> dict[str, str]:
    return {"PK": f"{REWARD_ORDER_TYPE}#{order_id}", "SK": REWARD_ORDER_TYPE}


def reward_orders_partition(program_id: str) -> str:
    """GSI1PK of an order: the orders of one program, sorted by GSI1SK = <created_at>#<order_id>."""
    return f"{REWARD_ORDER_TYPE}#program#{program_id}"


def reward_order_sort(created_at: str, order_id: str) -> str:
    return f"{created_at}#{order_id}"


def resend_window_key(order_id: str, window: str) -> dict[str, str]:
    """Counts the resends of one order in one clock hour (`2026-11-22T14`); expires with TTL."""
    return {"PK": f"{REWARD_ORDER_TYPE}#{order_id}", "SK": f"{RESEND_PREFIX}{window}"}
