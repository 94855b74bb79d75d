"""Storage of events: what happened to a program's payments, cards and reward orders, each written by the
same TransactWriteItems as the change it reports, so an event exists if and only if its change committed.

Event   PK=P#<program>#EVENT#<evt_...>  SK=EVENT  (TTL expires_at: 30 days)
        GSI1 P#<program>#EVENTS#<shard> / <created_at>#<id>          (the program's events)
        GSI2 P#<program>#EVENTS#<type>#<shard> / <created_at>#<id>   (the same, of one type)
        The shard (0..keys.EVENT_SHARDS-1) is a hash of the event id: a program's events are written about
        three a payment, more than one partition takes. The indexes hold no body (one write unit an entry):
        a page reads its events' items in one BatchGetItem.

The event's JSON (`{"id", "type", "created_at", "data"}`) is kept as the exact text a webhook receives
(`body`), so every delivery of it carries the same bytes and the same signature input. The table's stream
brings each new event to the outbox relay (type = EVENT), which queues it for the webhook deliveries.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flexigift import jsonio
from flexigift.store import keys
from flexigift.store.listing import Listing, page
from flexigift.store.table import Transaction, batch_get, found_in, get_item

RETENTION_DAYS = 30


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def event_body(event_id: str, event_type: str, created_at: str, data: Any) -> str:
    """The event as JSON text: what GET /events/{id} answers and what a webhook's body is."""
    return jsonio.dumps({"id": event_id, "type": event_type, "created_at": created_at, "data": data})


def tx_put_event(tx: Transaction, program_id: str, event_type: str, data: Any, created_at: str,
                 label: str = "event") -> str:
    """Add an event to the transaction of the change it reports; returns its id. `data` is the resource as its
    GET shows it (a response model or plain JSON values, money as Decimal)."""
    event_id = new_event_id()
    sort = f"{created_at}#{event_id}"
    shard = keys.shard_of_text(event_id, keys.EVENT_SHARDS)
    tx.put(label, {
        **keys.event_key(program_id, event_id), "type": keys.EVENT_TYPE, "id": event_id, "program_id": program_id,
        "event_type": event_type, "created_at": created_at,
        "body": event_body(event_id, event_type, created_at, data),
        "expires_at": int(time.time()) + RETENTION_DAYS * 86400,
        "GSI1PK": keys.sharded(keys.events_partition(program_id), shard, keys.EVENT_SHARDS), "GSI1SK": sort,
        "GSI2PK": keys.sharded(keys.events_partition(program_id, event_type), shard, keys.EVENT_SHARDS),
        "GSI2SK": sort,
    }, condition="attribute_not_exists(PK)")
    return event_id


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "event_type": item["event_type"], "created_at": item["created_at"],
            "body": item["body"], "program_id": item["program_id"]}


def get_event(program_id: str, event_id: str) -> dict[str, Any] | None:
    item = get_item(keys.event_key(program_id, event_id))
    if item is None or item.get("type") != keys.EVENT_TYPE or int(item.get("expires_at", 0)) < time.time():
        return None  # TTL deletes within days of expiry; until then an expired event is already gone
    return _record(item)


def events_listing(program_id: str, event_type: str | None) -> Listing:
    return Listing("GSI2" if event_type else "GSI1", keys.events_partition(program_id, event_type), sharded=True,
                   forward=False, shards=keys.EVENT_SHARDS)


def list_page(program_id: str, event_type: str | None, limit: int,
              cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the program's events (of one type, if given), newest first: the keys from the sharded
    listing, then the events in one BatchGetItem. An event past its retention that TTL has not deleted yet is
    left out (a page may then hold fewer than `limit` and still announce the next)."""
    index_items, next_cursor = page(events_listing(program_id, event_type), limit, cursor)
    wanted = [{"PK": i["PK"], "SK": i["SK"]} for i in index_items]
    found = batch_get(wanted, consistent=False) if wanted else {}  # events never change once written
    now = time.time()
    events = []
    for entry in index_items:
        item = found_in(found, entry)
        if item is not None and int(item.get("expires_at", 0)) >= now:
            events.append(_record(item))
    return events, next_cursor
