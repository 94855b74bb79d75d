"""Pages of a listing kept in an index, one partition or spread over shards (keys.LIST_SHARDS).

A listing that every create of a program writes (all its cards, an issuer's cards, its reward orders) would
be one index partition taking every one of those writes: a hot partition. Such a listing is stored as
LIST_SHARDS partitions `<listing>#<shard>`, and a page queries every shard for up to a page of keys after
the cursor and merges them in sort-key order. A listing's sort keys are unique across its shards (a padded
numeric id, `<created_at>#<order id>`, `<created_at>#<key id>`), so one sort key says where the listing
stands in every shard at once: the cursor is that position, and the next page asks each shard for what
follows it (`GSI1SK > :after`, or `<` for a newest-first listing).

A shard whose Query stopped at its Limit may hold more items before the others' later ones; the page only
returns items up to the earliest such stop (the horizon), every shard having read everything up to there.
Unfiltered, that is always a full page while items remain. The shards are queried side by side
(store.table.side_by_side): the page costs about one Query's latency, not sixteen.

A cursor is base64url JSON {"listing", "index", "after"}: the listing's own name (its program in it) and the
position. A listing of chunks (the event listings, store.events: each item holds many records) adds "offset",
how many of the chunk named by "after" the previous pages have shown (decode_chunk_cursor). It is checked against the caller's listing (built from the caller's program, never from the
cursor) and refused as a 400 otherwise; a forged position can at most skip or repeat items of the listing
the caller may read from its start anyway (the Query's partitions are the caller's).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from flexigift.errors import InvalidCursor
from flexigift.store import keys
from flexigift.store.table import Query, query_page, side_by_side

MAX_CURSOR_LENGTH = 8192  # characters: four key values at DynamoDB's limits, base64url


@dataclass(frozen=True)
class Listing:
    index: str                  # GSI1..GSI4, or "table" (the event listings: chunks in the table, store.events)
    name: str                   # the partition value, or the shards' common prefix
    sharded: bool
    forward: bool = True        # ascending sort key (False: newest first)
    shards: int = keys.LIST_SHARDS

    @property
    def pk_name(self) -> str:
        return f"{self.index}PK"

    @property
    def sk_name(self) -> str:
        return f"{self.index}SK"

    def partitions(self) -> list[str]:
        if not self.sharded:
            return [self.name]
        return [keys.sharded(self.name, shard, self.shards) for shard in range(self.shards)]


def encode_cursor(listing: Listing, after: str, offset: int | None = None) -> str:
    plain: dict[str, Any] = {"listing": listing.name, "index": listing.index, "after": after}
    if offset is not None:
        plain["offset"] = offset
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _refused(message: str = "cursor is not one this API issued") -> InvalidCursor:
    return InvalidCursor(f"{message}; use the Link header of the previous page")


def cursor_payload(cursor: str) -> Any:
    """The JSON a cursor carries (unpadded URL-safe base64); InvalidCursor (400) when it is not one."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
        raise _refused()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _refused() from None


MAX_CHUNK_OFFSET = 100_000  # more records than any chunk holds (a stream batch is at most 10,000 records)


def decode_chunk_cursor(cursor: str, listing: Listing) -> tuple[str, int]:
    """The position a cursor of a listing of chunks names: (the chunk's sort key, how many of its records the
    previous pages showed); InvalidCursor (400) for anything else, a cursor of another listing included."""
    data = cursor_payload(cursor)
    if not isinstance(data, dict) or set(data) != {"listing", "index", "after", "offset"}:
        raise _refused("cursor does not belong to this listing")
    offset = data["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_CHUNK_OFFSET:
        raise _refused()
    return _checked_position(data, listing), offset


def decode_cursor(cursor: str, listing: Listing) -> str:
    """The position a cursor of this listing names; InvalidCursor (400) for anything else."""
    data = cursor_payload(cursor)
    if not isinstance(data, dict) or set(data) != {"listing", "index", "after"}:
        raise _refused("cursor does not belong to this listing")
    return _checked_position(data, listing)


def _checked_position(data: dict[str, Any], listing: Listing) -> str:
    after = data["after"]
    if not isinstance(after, str) or not after:
        raise _refused()
    try:
        size = len(after.encode("utf-8"))
    except UnicodeEncodeError:
        raise _refused() from None
    if size > 1024:  # DynamoDB's limit for a sort key
        raise _refused()
    if data["listing"] != listing.name or data["index"] != listing.index:
        raise _refused("cursor does not belong to this listing")
    return after


def page(listing: Listing, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the listing's index items (what the index projects: at least the table's and the index's
    keys), in sort-key order, and the next page's cursor (None at the end)."""
    after = decode_cursor(cursor, listing) if cursor else None
    sk = listing.sk_name
    found: list[dict[str, Any]] = []
    horizon: str | None = None
    queries = [Query(index=listing.index, pk_name=listing.pk_name, pk_value=partition, limit=limit,
                     forward=listing.forward, sk_name=sk, sk_after=after) for partition in listing.partitions()]
    for items, last in side_by_side([partial(query_page, query) for query in queries]):
        found.extend(items)
        if last is not None:
            edge = str(last[sk])
            if horizon is None or (edge < horizon if listing.forward else edge > horizon):
                horizon = edge
    found.sort(key=lambda item: item[sk], reverse=not listing.forward)
    if horizon is not None:
        found = [i for i in found if (i[sk] <= horizon if listing.forward else i[sk] >= horizon)]
    if len(found) > limit:
        found = found[:limit]
        return found, encode_cursor(listing, str(found[-1][sk]))
    return found, (encode_cursor(listing, horizon) if horizon is not None else None)
