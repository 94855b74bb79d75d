"""GET /events and GET /events/{id}: what happened in the caller's program, newest first, kept 30 days."""

from __future__ import annotations

import re
from typing import Any

from flexigift import jsonio
from flexigift.api import Caller
from flexigift.errors import NotFound, ValidationFailed, field_error
from flexigift.models.events import Event, EventType
from flexigift.store import events as store

FILTERS = ("type",)
_EVENT_ID = re.compile(r"^evt_[0-9a-f]{24}$")


def is_event_id(value: str) -> bool:
    return bool(_EVENT_ID.fullmatch(value))


def event_of(record: dict[str, Any]) -> Event:
    return Event.model_validate(jsonio.loads(record["body"]))


def get_event(who: Caller, event_id: str) -> Event:
    record = store.get_event(who.program_id, event_id) if is_event_id(event_id) else None
    if record is None:
        raise NotFound(f"No event with id {event_id} (events are kept 30 days)")
    return event_of(record)


def list_events(who: Caller, filters: dict[str, str], limit: int, cursor: str | None) -> tuple[list[Event], str | None]:
    event_type = filters.get("type")
    if event_type is not None and event_type not in {t.value for t in EventType}:
        raise ValidationFailed(f"type must be one of {', '.join(t.value for t in EventType)}",
                               fields=[field_error("type", "not an event type", "enum")])
    records, next_cursor = store.list_page(who.program_id, event_type, limit, cursor)
    return [event_of(r) for r in records], next_cursor
