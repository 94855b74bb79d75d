"""Storage of events: what happened to a program's payments, cards and reward orders, each written by the
same TransactWriteItems as the change it reports, so an event exists if and only if its change committed.

Event   PK=P#<program>#EVENT#<evt_...>  SK=EVENT  (TTL expires_at: 30 days)
        GSI1 P#<program>#EVENTS#<day> / <created_at>#<id>          (the program's events of one UTC day)
        GSI2 P#<program>#EVENTS#<type>#<day> / <created_at>#<id>   (the same, of one type)

The event's JSON (`{"id", "type", "created_at", "data"}`) is kept as the exact text a webhook receives
(`body`), so every delivery of it carries the same bytes and the same signature input. The table's stream
brings each new event to the outbox relay (type = EVENT), which queues it for the webhook deliveries.
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flexigift import jsonio
from flexigift.errors import InvalidCursor
from flexigift.store import keys
from flexigift.store.table import Query, Transaction, get_item, query_page
from flexigift.store.wallet import decode_cursor, encode_cursor

RETENTION_DAYS = 30
_CURSOR_KEYS = {"PK", "SK"}


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def event_body(event_id: str, event_type: str, created_at: str, data: Any) -> str:
    """The event as JSON text: what GET /events/{id} answers and what a webhook's body is."""
    return jsonio.dumps({"id": event_id, "type": event_type, "created_at": created_at, "data": data})


def _day(created_at: str) -> str:
    return created_at[:10]


def tx_put_event(tx: Transaction, program_id: str, event_type: str, data: Any, created_at: str,
                 label: str = "event") -> str:
    """Add an event to the transaction of the change it reports; returns its id. `data` is the resource as its
    GET shows it (a response model or plain JSON values, money as Decimal)."""
    event_id = new_event_id()
    day = _day(created_at)
    sort = f"{created_at}#{event_id}"
    tx.put(label, {
        **keys.event_key(program_id, event_id), "type": keys.EVENT_TYPE, "id": event_id, "program_id": program_id,
        "event_type": event_type, "created_at": created_at,
        "body": event_body(event_id, event_type, created_at, data),
        "expires_at": int(time.time()) + RETENTION_DAYS * 86400,
        "GSI1PK": keys.events_partition(program_id, day), "GSI1SK": sort,
        "GSI2PK": keys.events_partition(program_id, day, event_type), "GSI2SK": sort,
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


def _days(today: date) -> list[str]:
    return [(today - timedelta(days=n)).isoformat() for n in range(RETENTION_DAYS + 1)]


def _cursor_day(cursor: str, partitions: dict[str, str], index: str) -> tuple[str, dict[str, Any]]:
    """The day a cursor continues and where in it; only a partition of the caller's own listing is accepted."""
    for day, partition in partitions.items():
        try:
            start = decode_cursor(cursor, {*_CURSOR_KEYS, f"{index}PK", f"{index}SK"}, (f"{index}PK", partition))
        except InvalidCursor:
            continue
        return day, start
    raise InvalidCursor("cursor does not belong to this listing; use the Link header of the previous page")


def list_page(program_id: str, event_type: str | None, limit: int,
              cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the program's events, newest first, walking back one day partition at a time (at most the
    retention period). The cursor is the last event's keys: the next page resumes after it."""
    index = "GSI2" if event_type else "GSI1"
    days = _days(datetime.now(timezone.utc).date())
    partitions = {day: keys.events_partition(program_id, day, event_type) for day in days}
    start: dict[str, Any] | None = None
    if cursor:
        first_day, start = _cursor_day(cursor, partitions, index)
        days = days[days.index(first_day):]
    found: list[dict[str, Any]] = []
    last_item: dict[str, Any] | None = None
    now = time.time()
    for day in days:
        while len(found) < limit:
            items, start = query_page(Query(index=index, pk_name=f"{index}PK", pk_value=partitions[day],
                                            limit=limit - len(found), start_key=start, forward=False))
            for item in items:
                last_item = item
                if int(item.get("expires_at", 0)) >= now:
                    found.append(_record(item))
            if start is None:
                break
        if len(found) >= limit:
            break
        start = None
    if len(found) < limit or last_item is None:
        return found, None
    position = {k: last_item[k] for k in (*_CURSOR_KEYS, f"{index}PK", f"{index}SK")}
    return found, encode_cursor(position)
