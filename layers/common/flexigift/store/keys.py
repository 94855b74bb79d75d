"""Every key format of the single table, in one place. docs/access-patterns.md lists their uses.

Tenancy is in the keys. Every record of a program (a tenant: users, gift cards, products, ledgers, payments,
refunds, Idempotency-Keys, reward orders, their outbox records, API keys' listing) has a partition key that
begins with `P#<program_id>#`, and so has every index partition that lists or finds them: a key function
below cannot be called without the program, so no read or write can reach another program's items. Only
platform items are global: API keys by hash (the authorizer finds the program from them), programs, and the
supplier's rewards catalog. A program_id never contains '#' (models.common.Identifier), so no program's
prefix is the prefix of another's.

Base table: PK / SK. Indexes (each projects only what its queries read: template.yaml, Projection):
  GSI1  by type, ordered by numeric id     (list a collection; sharded LIST_SHARDS ways)
  GSI2  by natural key                     (users?user_id=, gift_cards?card_id=, products?product_id=)
  GSI3  by first secondary attribute       (users?amazon_id=, gift_cards?user_id=, products?eligible_issuer=)
  GSI4  by second secondary attribute      (users?email=, gift_cards?issuer=)

No index partition is shared by every request of a kind: a listing that every create of a program writes
(the type listing, an issuer's cards or products, a program's reward orders and API keys) is spread over
LIST_SHARDS partitions `<listing>#<shard>` (the shard from the item's id), and its pages merge the shards in
sort-key order (store.listing). A program's event listings are no index: chunks in the table, one per stream
batch, written by the event indexer after the events' transactions (event_chunk_key, store.events).
"""

from __future__ import annotations

import hashlib

INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4")
TTL_ATTRIBUTE = "expires_at"


def tenant(program_id: str) -> str:
    """The prefix of every partition key of one program."""
    if not program_id or "#" in program_id:
        raise ValueError("a program_id is required and cannot contain '#'")
    return f"P#{program_id}#"


def pad_id(numeric_id: int) -> str:
    """Zero-padded so that string order is numeric order."""
    return f"{numeric_id:012d}"


def entity_key(program_id: str, kind: str, numeric_id: int) -> dict[str, str]:
    return {"PK": f"{tenant(program_id)}{kind}#{numeric_id}", "SK": kind}


def unique_key(program_id: str, kind: str, natural_id: str) -> dict[str, str]:
    """Guard item that makes a natural identifier (user_id, card_id, product_id) unique in its program."""
    return {"PK": f"{tenant(program_id)}UNIQUE#{kind}#{natural_id}", "SK": "UNIQUE"}


def counter_key(program_id: str, kind: str) -> dict[str, str]:
    """The id counter of a kind in a program: each write reserves a block of ids (store.table.IdBlocks)."""
    return {"PK": f"{tenant(program_id)}COUNTER#{kind}", "SK": "COUNTER"}


LIST_SHARDS = 16   # index partitions of one listing (a type, an issuer's cards or products, API keys)
ORDER_SHARDS = 64  # a program's reward orders: every order writes the listing (bench f: 16 were too few)


def shard_of_id(numeric_id: int) -> int:
    """The listing shard of a record with a numeric id: ids come in blocks per execution environment, so
    consecutive creates land on consecutive shards."""
    return int(numeric_id) % LIST_SHARDS


def shard_of_text(text: str, shards: int = LIST_SHARDS) -> int:
    """The listing shard of a record named by a string id (an order, an API key): stable, spread evenly."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % shards


def sharded(listing: str, shard: int, shards: int = LIST_SHARDS) -> str:
    """One shard of a listing's partition: `P#default#CARD#3`. The shard follows the last '#', so no
    listing's shard is another listing's (an issuer named `kohls#3` has `...#kohls#3#<n>`)."""
    if not 0 <= shard < shards:
        raise ValueError("shard out of range")
    return f"{listing}#{shard}"


def index_partition(program_id: str, kind: str, attribute: str | None, value: str | None) -> str:
    """A listing of a GSI (unsharded name): `P#default#USER` for the type listing,
    `P#default#USER#amazon_id#amz3456` for a lookup. Listings in SHARDED_LOOKUPS (and every type listing)
    are stored as its shards (`sharded`)."""
    if attribute is None:
        return f"{tenant(program_id)}{kind}"
    return f"{tenant(program_id)}{kind}#{attribute}#{value}"


# Lookups whose value many records share (an issuer has millions of cards): sharded like the type listing.
# The others name one record (card_id, email) or one user's few cards (user_id): one partition each.
SHARDED_LOOKUPS = frozenset({("CARD", "issuer"), ("PRODUCT", "eligible_issuer")})


def api_key_key(key_hash: str) -> dict[str, str]:
    """Global: the authorizer knows only the secret's hash, and learns the program from this item."""
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def api_key_pointer_key(program_id: str, key_id: str) -> dict[str, str]:
    """key_id -> hash, in the key's program: an admin can revoke only its own program's keys."""
    return {"PK": f"{tenant(program_id)}APIKEYID#{key_id}", "SK": "APIKEYID"}


def api_keys_partition(program_id: str) -> str:
    """The listing of a program's API keys (GSI1, sharded by key id)."""
    return f"{tenant(program_id)}APIKEY"


# --- checkout: ledger, payments, refunds, idempotency ----------------------------------------------


ACTIVITY_PREFIX = "ACTIVITY#"
REFUND_PREFIX = "REFUND#"


def activity_key(program_id: str, card_numeric_id: int, sequence: int) -> dict[str, str]:
    """A ledger entry of a card. It lives in the card's partition, so one Query reads the ledger in order;
    `sequence` is the card's version after the change, so entries sort as the balance changed."""
    return {"PK": entity_key(program_id, "CARD", card_numeric_id)["PK"], "SK": f"{ACTIVITY_PREFIX}{pad_id(sequence)}"}


def payment_key(program_id: str, payment_id: str) -> dict[str, str]:
    return {"PK": f"{tenant(program_id)}PAYMENT#{payment_id}", "SK": "PAYMENT"}


def refund_key(program_id: str, payment_id: str, sequence: int) -> dict[str, str]:
    """A refund of a payment, in the payment's partition: one Query reads a payment with its refunds."""
    return {"PK": payment_key(program_id, payment_id)["PK"], "SK": f"{REFUND_PREFIX}{pad_id(sequence)}"}


def amazon_key(program_id: str, amazon_id: str) -> dict[str, str]:
    """Guard item of a user's Amazon account id (unique per program): `ref_id` (the user's numeric id) and
    `user_id`, written in the transactions that create, rename or delete the user, so that checkout finds
    a shopper by Amazon account with a consistent read rather than through an index."""
    return unique_key(program_id, "AMAZON", amazon_id)


# --- authorizations: holds that expire -------------------------------------------------------------

HOLD_SHARDS = 32           # index partitions per expiry minute (a busy minute's authorizations, < 1,000 WCU/s each)
HOLDS_PREFIX = "HOLDS#"    # GSI1PK of an authorized payment: the only cross-program index partition
HOLD_SWEEP = "SWEEP#authorizations"


def hold_expiry_partition(minute: str, shard: int) -> str:
    """GSI1PK of an authorization while it holds money: `HOLDS#2026-12-02T14:05#3`, the minute its holds
    expire (UTC, `YYYY-MM-DDTHH:MM`) and a shard 0..HOLD_SHARDS-1 taken from the payment id. The expiry sweep
    reads the partitions of the minutes that have passed: no Scan, and no program's prefix (the sweep works for
    every program; each item names its program, and every key the sweep then writes is built from it)."""
    if not 0 <= shard < HOLD_SHARDS:
        raise ValueError("shard out of range")
    return f"{HOLDS_PREFIX}{minute}#{shard}"


def hold_expiry_sort(expires_at: str, program_id: str, payment_id: str) -> str:
    return f"{expires_at}#{tenant(program_id)}{payment_id}"


def hold_sweep_key() -> dict[str, str]:
    """Global: how far the expiry sweep has read (the last minute whose partitions it has swept)."""
    return {"PK": HOLD_SWEEP, "SK": "SWEEP"}


def idempotency_key(program_id: str, operation: str, key: str) -> dict[str, str]:
    """An Idempotency-Key as its program used it for one operation: unique per program and operation, so
    two keys of one program (a retry from another instance of the same app) share it, and its partition is
    the key itself (no partition shared by every request)."""
    return {"PK": f"{tenant(program_id)}IDEMPOTENCY#{operation}#{key}", "SK": "IDEMPOTENCY"}


# --- rewards: catalog, programs, orders, resend limits ------------------------------------------------


REWARD_TYPE = "REWARD"              # GSI1PK of every catalog item (the refresh reads them all, no Scan)
REWARD_ORDER_TYPE = "REWARD_ORDER"
RESEND_PREFIX = "RESENDS#"
REWARD_ORDER_OPERATION = "reward_order"  # the operation of its Idempotency-Keys (idempotency_key)


def reward_key(rewards_id: int) -> dict[str, str]:
    return {"PK": f"{REWARD_TYPE}#{rewards_id}", "SK": REWARD_TYPE}


def reward_country_partition(country: str) -> str:
    """GSI2PK of a catalog item while it is available: the catalog of one country (a sparse index)."""
    return f"{REWARD_TYPE}#country#{country}"


def program_key(program_id: str) -> dict[str, str]:
    """A rewards program: which delivery methods its API keys may use."""
    return {"PK": f"PROGRAM#{program_id}", "SK": "PROGRAM"}


def reward_order_key(program_id: str, order_id: str) -> dict[str, str]:
    return {"PK": f"{tenant(program_id)}{REWARD_ORDER_TYPE}#{order_id}", "SK": REWARD_ORDER_TYPE}


def reward_orders_partition(program_id: str) -> str:
    """The listing of a program's orders (GSI1, sharded by order id), sorted by GSI1SK =
    <created_at>#<order_id>."""
    return f"{tenant(program_id)}{REWARD_ORDER_TYPE}"


def reward_order_sort(created_at: str, order_id: str) -> str:
    return f"{created_at}#{order_id}"


def resend_window_key(program_id: str, order_id: str, window: str) -> dict[str, str]:
    """Counts the resends of one order in one clock hour (`2026-11-22T14`); expires with TTL."""
    return {"PK": reward_order_key(program_id, order_id)["PK"], "SK": f"{RESEND_PREFIX}{window}"}


def reward_email_outbox_key(program_id: str, order_id: str, delivery_round: int) -> dict[str, str]:
    """The outbox record of one delivery round of an email order: one per round (its id is made of the order
    and the round), so a round can never be queued twice from the outbox."""
    return outbox_key(program_id, f"reward_email#{order_id}#{delivery_round}")


# --- the transactional outbox ----------------------------------------------------------------------

OUTBOX_TYPE = "OUTBOX"


def outbox_key(program_id: str, message_id: str) -> dict[str, str]:
    """A record of something to do after a commit (an email to send, later an event to publish), written in
    the same transaction as the change that calls for it. The table's stream carries its INSERT to the
    relay (an event source mapping filtered on type = OUTBOX); it expires by TTL once relayed."""
    return {"PK": f"{tenant(program_id)}{OUTBOX_TYPE}#{message_id}", "SK": OUTBOX_TYPE}


# --- events and webhooks -----------------------------------------------------------------------------

EVENT_TYPE = "EVENT"


def event_key(program_id: str, event_id: str) -> dict[str, str]:
    """An event (`evt_...`), written in the transaction of the change it reports; expires by TTL (30 days)."""
    return {"PK": f"{tenant(program_id)}{EVENT_TYPE}#{event_id}", "SK": EVENT_TYPE}


EVENT_CHUNK_TYPE = "EVENT_CHUNK"
EVENT_LIST_SHARDS = 16  # partitions of each event listing (bench f: chunks of many events, far fewer writes)


def events_partition(program_id: str, event_type: str | None = None) -> str:
    """The listing (unsharded name) of a program's events (`P#<p>#EVENTS`) or of its events of one type
    (`P#<p>#EVENTS#<type>`): table partitions holding chunks (event_chunk_key), written by the stream consumer
    (functions/index_events.py), one chunk per program (and per program and type) per stream batch. Each listing
    is spread over EVENT_LIST_SHARDS partitions (`sharded`, the shard from a hash of the chunk id); none is shared
    by programs. An event type is a name such as `payment.captured` (models.events.EventType), never a number, so
    no type listing's partition is a shard of the program's listing."""
    listing = f"{tenant(program_id)}EVENTS"
    return listing if event_type is None else f"{listing}#{event_type}"


def event_chunk_sort(first_created_at: str, chunk_id: str) -> str:
    """A chunk's sort key: `<listed_at>#<chunk id>`. The chunk id is the id of the chunk's first event (in
    stream order) and listed_at that event's created_at: both come from the batch's records, never from the
    clock of the invocation, so a retried batch writes the same key (store.events' docstring)."""
    return f"{first_created_at}#{chunk_id}"


def event_chunk_key(program_id: str, event_type: str | None, first_created_at: str,
                    chunk_id: str) -> dict[str, str]:
    """One chunk of a program's event listing (of one type, if given): the ids of one stream batch's events of
    that program (and type), newest first. TTL like the events (30 days)."""
    shard = shard_of_text(chunk_id, EVENT_LIST_SHARDS)
    return {"PK": sharded(events_partition(program_id, event_type), shard, EVENT_LIST_SHARDS),
            "SK": event_chunk_sort(first_created_at, chunk_id)}


def event_chunk_key_at(program_id: str, event_type: str | None, sort_key: str) -> dict[str, str]:
    """The key of the chunk whose sort key is `sort_key` (a cursor's position): the chunk id follows its last
    '#' (created_at holds none)."""
    first_created_at, _, chunk_id = sort_key.rpartition("#")
    return event_chunk_key(program_id, event_type, first_created_at, chunk_id)


def webhook_endpoints_partition(program_id: str) -> str:
    """The partition holding a program's webhook endpoints (a handful: read whole, consistently)."""
    return f"{tenant(program_id)}WEBHOOKS"


def webhook_endpoint_key(program_id: str, endpoint_id: str) -> dict[str, str]:
    return {"PK": webhook_endpoints_partition(program_id), "SK": f"ENDPOINT#{endpoint_id}"}


def webhook_deliveries_partition(program_id: str, endpoint_id: str) -> str:
    """One endpoint's deliveries (state per event) and attempts (the log): a dead endpoint's retries touch
    only its own partition."""
    return f"{tenant(program_id)}WEBHOOK#{endpoint_id}"


def webhook_delivery_key(program_id: str, endpoint_id: str, event_id: str) -> dict[str, str]:
    return {"PK": webhook_deliveries_partition(program_id, endpoint_id), "SK": f"DELIVERY#{event_id}"}


ATTEMPT_PREFIX = "ATTEMPT#"


def webhook_attempt_key(program_id: str, endpoint_id: str, at: str, event_id: str, attempt: int) -> dict[str, str]:
    """One attempt of a delivery: sorted by when it was made (newest first when read backwards)."""
    return {"PK": webhook_deliveries_partition(program_id, endpoint_id),
            "SK": f"{ATTEMPT_PREFIX}{at}#{event_id}#{attempt:04d}"}
