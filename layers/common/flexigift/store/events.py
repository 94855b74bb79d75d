"""Storage of events: what happened to a program's payments, cards and reward orders, each written by the
same TransactWriteItems as the change it reports, so an event exists if and only if its change committed.

Event   PK=P#<program>#EVENT#<evt_...>  SK=EVENT  (TTL expires_at: 30 days); no index keys
Chunk   PK=P#<program>#EVENTS#<shard>            SK=<listed_at>#<chunk id>   (the program's events)
        PK=P#<program>#EVENTS#<type>#<shard>     SK=the same                 (its events of one type)
        `events`: the ids of one stream batch's events of that program (and type), newest first by created_at;
        TTL expires_at: the latest of its events'. The shard (0..keys.EVENT_LIST_SHARDS-1) is a hash of the
        chunk id.

The event's JSON (`{"id", "type", "created_at", "data"}`) is kept as the exact text a webhook receives
(`body`), so every delivery of it carries the same bytes and the same signature input. The table's stream
brings each new event to two readers: the outbox relay (type = EVENT), which queues it for the webhook
deliveries, and the event indexer (functions/index_events.py, index_batch below), which lists it.

Why the listing is written after the commit, in chunks. Every payment writes about three events. An index
entry per event in a per-program listing puts every one of them into that listing's partitions: at 64 shards
that reached DynamoDB's 1,000 writes a second per partition near 22,000 payments a second (bench f), and more
shards make every page query more partitions. Instead the indexer writes, per stream batch, one chunk per
program and one per (program, type), holding the ids of the batch's events of it: one write for up to a
batch's worth of events. A listing's partitions then take (chunks a second x their size) / shards, which bench
f charges at the batch sizes the stream gives at scale.

Exactly once in effect, whatever line the indexer dies at. The indexer's event source mapping does not use
ReportBatchItemFailures: an invocation that raises (or times out, or whose environment dies) fails the whole
batch, and the stream then retries it from the same first record (a retry may carry more records behind it,
and with BisectBatchOnFunctionError it is split in halves, the first of which starts at the same record); the
shard's position moves past a batch only when an invocation on it succeeded. ParallelizationFactor stays 1, so
one batch of a shard is processed at a time, in order. Each chunk is keyed by its first event (in stream order):
chunk id = that event's id, listed_at = its created_at, both read from the batch's records, never from the clock;
and each is written with an unconditional Put that replaces the whole item. So:
  * An invocation on the records [s, e) writes, for each program p (and each (p, type)) with events in them,
    the chunk keyed by the first p-event at or after s, holding exactly the p-events of [s, e).
  * The invocations that succeed cover the stream with consecutive ranges [s0, s1), [s1, s2), ...; two of them
    never write the same key (their first p-events differ), and together their chunks hold every event once.
  * A failed invocation F on [s, e) may have written some chunks (a Put DynamoDB applied stays applied). The
    shard's next invocation starts at s again, and so does every one until one at s succeeds: s starts a
    successful range, and every successful range from s on runs after F. Take a chunk F wrote, keyed by q, the
    first p-event at or after s. q lies in a successful range [a, b) with s <= a <= q (they cover the stream
    from s on), and no p-event lies in [a, q), so that range's first p-event is q as well: it writes the same
    key after F, and its Put replaces what F wrote with exactly the p-events of [a, b).
  So once the stream has moved past them, every event is in exactly one chunk, and a chunk lists no event twice.
  Between a failure and the successes that repair it (seconds, while the stream retries), a chunk may list
  events of a longer range than its successful write will, and a retry on a shorter range may drop some of them
  until the range that holds them succeeds: a page read in that moment may show such an event twice (in two
  chunks) or not yet. A batch given up on after its retries (the on-failure destination receives its range) may
  be listed in part or not at all; the events themselves are there (GET /events/{id}, webhooks).

Order and timeliness: a page lists chunks newest first by sort key (listed_at, then chunk id), and within a
chunk newest first by created_at. Chunks of the same moment from different stream shards interleave by chunk,
so the order is by created_at up to about the batching window. An event is listed once its batch is indexed:
within about the batching window (MaximumBatchingWindowInSeconds) after its change commits, longer while the
stream is retrying; GET /events/{id} reads the event itself at once.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flexigift import jsonio
from flexigift.store import keys
from flexigift.store.listing import Listing, decode_chunk_cursor, encode_cursor
from flexigift.store.table import (
    Query,
    Transaction,
    batch_get,
    batch_put,
    found_in,
    get_item,
    query_page,
    side_by_side,
)

RETENTION_DAYS = 30
FIRST_CHUNKS_PER_SHARD = 1   # a page's first Query per shard: at scale one chunk holds hundreds of events


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def event_body(event_id: str, event_type: str, created_at: str, data: Any) -> str:
    """The event as JSON text: what GET /events/{id} answers and what a webhook's body is."""
    return jsonio.dumps({"id": event_id, "type": event_type, "created_at": created_at, "data": data})


def tx_put_event(tx: Transaction, program_id: str, event_type: str, data: Any, created_at: str,
                 label: str = "event") -> str:
    """Add an event to the transaction of the change it reports; returns its id. `data` is the resource as its
    GET shows it (a response model or plain JSON values, money as Decimal). No index keys: the stream brings the
    event to the indexer, which lists it (index_batch)."""
    event_id = new_event_id()
    tx.put(label, {
        **keys.event_key(program_id, event_id), "type": keys.EVENT_TYPE, "id": event_id, "program_id": program_id,
        "event_type": event_type, "created_at": created_at,
        "body": event_body(event_id, event_type, created_at, data),
        "expires_at": int(time.time()) + RETENTION_DAYS * 86400,
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


# --- the listing: chunks written by the stream's indexer ---------------------------------------------------


def _readable(image: dict[str, Any]) -> bool:
    """An event's stream image carries what a chunk needs (written by tx_put_event: always, unless damaged)."""
    return (image.get("type") == keys.EVENT_TYPE
            and all(isinstance(image.get(name), str) and image[name] and "#" not in image[name]
                    for name in ("program_id", "id", "event_type", "created_at")))


def chunk_item(program_id: str, event_type: str | None, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunk listing `events` (images of one program's events, in stream order, of `event_type` if given):
    keyed by the first of them, their ids newest first."""
    first = events[0]
    newest_first = sorted(events, key=lambda e: (e["created_at"], e["id"]), reverse=True)
    item: dict[str, Any] = {
        **keys.event_chunk_key(program_id, event_type, first["created_at"], first["id"]),
        "type": keys.EVENT_CHUNK_TYPE, "program_id": program_id,
        "events": list(dict.fromkeys(e["id"] for e in newest_first)),
        "expires_at": max(int(e.get("expires_at") or 0) for e in events),
    }
    if event_type is not None:
        item["event_type"] = event_type
    return item


def plan_chunks(images: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The chunks listing one stream batch (the new images of its records, in stream order): one per program and
    one per (program, type) with events in the batch. Returns them and how many records were left out (not an
    event, or damaged)."""
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    skipped = 0
    for image in images:
        if not _readable(image):
            skipped += 1
            continue
        groups.setdefault((image["program_id"], None), []).append(image)
        groups.setdefault((image["program_id"], image["event_type"]), []).append(image)
    return [chunk_item(program_id, event_type, events) for (program_id, event_type), events in groups.items()], skipped


def index_batch(images: list[dict[str, Any]]) -> tuple[int, int, int]:
    """List one stream batch's events (the module's docstring: why this is exactly once in effect). Returns
    (events listed, chunks written, records left out). A DynamoDB error propagates: the invocation fails and
    the stream retries the batch from its first record."""
    chunks, skipped = plan_chunks(images)
    batch_put(chunks)
    return len(images) - skipped, len(chunks), skipped


def events_listing(program_id: str, event_type: str | None) -> Listing:
    return Listing("table", keys.events_partition(program_id, event_type), sharded=True, forward=False,
                   shards=keys.EVENT_LIST_SHARDS)


@dataclass
class _Shard:
    """One partition of a listing, read newest first from before a position, a few chunks at a time."""

    partition: str
    before: str | None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    start_key: dict[str, Any] | None = None
    done: bool = False

    def read(self, count: int) -> None:
        items, last = query_page(Query(index=None, pk_name="PK", pk_value=self.partition, limit=count,
                                       forward=False, sk_name="SK", sk_after=self.before,
                                       start_key=self.start_key))
        self.chunks += items
        self.start_key, self.done = last, last is None

    @property
    def edge(self) -> str | None:
        """The oldest sort key read while more may follow (every chunk of the shard newer than it is read)."""
        return None if self.done or not self.chunks else str(self.chunks[-1]["SK"])


def _known(shards: list[_Shard]) -> tuple[list[dict[str, Any]], str | None]:
    """Every chunk read so far that no unread chunk can precede (sort key at or after the horizon, the newest
    edge of the shards not read to their end), newest first; and the horizon (None: every shard was read)."""
    edges = [s.edge for s in shards if s.edge is not None]
    horizon = max(edges) if edges else None
    chunks = [c for s in shards for c in s.chunks if horizon is None or str(c["SK"]) >= horizon]
    return sorted(chunks, key=lambda c: str(c["SK"]), reverse=True), horizon


def list_page(program_id: str, event_type: str | None, limit: int,
              cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the program's events (of one type, if given), newest first by chunk, then by created_at: the
    rest of the cursor's chunk, then chunks before it, each shard read newest first (one chunk a shard at first;
    then more from the shard whose unread chunks could come next, until the page is full or every shard is read),
    merged by sort key; then the events in one BatchGetItem. The cursor is (chunk sort key, how many of its
    events were shown). An event past its retention that TTL has not deleted yet is left out (a page may then
    hold fewer than `limit` and still announce the next)."""
    listing = events_listing(program_id, event_type)
    ids: list[str] = []
    position: tuple[str, int] | None = None     # where the page stops: (chunk sort key, its events shown)
    before: str | None = None
    more = False                                # whether a next page may hold events
    if cursor:
        before, offset = decode_chunk_cursor(cursor, listing)
        current = get_item(keys.event_chunk_key_at(program_id, event_type, before), consistent=False)
        held = [str(i) for i in (current or {}).get("events") or []]
        ids = held[offset:offset + limit]
        position = (before, offset + len(ids))
        more = len(ids) >= limit                # the chunk's rest or the chunks before it
    if len(ids) < limit:
        shards = [_Shard(partition, before) for partition in listing.partitions()]
        side_by_side([partial(shard.read, FIRST_CHUNKS_PER_SHARD) for shard in shards])
        while True:
            chunks, horizon = _known(shards)
            listed = sum(len(c.get("events") or []) for c in chunks)
            if horizon is None or len(ids) + listed >= limit:
                break
            per_chunk = max(1.0, listed / len(chunks)) if chunks else 1.0
            wanted = min(limit, max(1, math.ceil((limit - len(ids) - listed) / per_chunk)))
            next(s for s in shards if s.edge == horizon).read(wanted)
        for n, chunk in enumerate(chunks):
            held = [str(i) for i in chunk.get("events") or []]
            taken = held[:limit - len(ids)]
            ids += taken
            position = (str(chunk["SK"]), len(taken))
            if len(ids) >= limit:
                more = len(taken) < len(held) or n + 1 < len(chunks) or horizon is not None
                break
    next_cursor = encode_cursor(listing, *position) if more and position else None
    found = batch_get([keys.event_key(program_id, i) for i in ids], consistent=False) if ids else {}
    now = time.time()
    events = []
    for event_id in dict.fromkeys(ids):
        item = found_in(found, keys.event_key(program_id, event_id))
        if item is not None and item.get("type") == keys.EVENT_TYPE and int(item.get("expires_at", 0)) >= now:
            events.append(_record(item))
    return events, next_cursor
