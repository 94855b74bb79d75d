"""The scheduled catalog refresh: load the supplier feed, validate every entry, write only what changed,
mark what vanished unavailable (never delete: orders name the items).

A bad feed never empties the live catalog. An entry that fails validation is skipped and reported, and
its rewards_id (when it has one) still counts as listed, so the live item stays as it was. A feed that
cannot be parsed, lists nothing, or has no valid entry at all changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flexigift import jsonio
from flexigift.models.rewards import FeedEntry, RefreshReport, RejectedEntry
from flexigift.observability import logger, metrics
from flexigift.shapes import ValidationError
from flexigift.store import rewards as store
from flexigift.store.wallet import now_iso
from flexigift.supplier_feed import read_feed


class FeedRejected(Exception):
    """The feed as a whole is unusable; the catalog is left exactly as it is."""


def content_hash(record: Mapping[str, Any]) -> str:
    """A fingerprint of everything the feed says about an item: equal hashes mean nothing to write."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _entries(body: bytes) -> list[Any]:
    try:
        document = jsonio.loads(body)
    except jsonio.MalformedJson as exc:
        raise FeedRejected(f"the feed is not JSON: {exc}") from None
    entries = document.get("rewards") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise FeedRejected('the feed must be a JSON object with a "rewards" array (or the array itself)')
    if not entries:
        raise FeedRejected("the feed lists no rewards")
    return entries


def _error_text(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "entry"
    return f"{where}: {str(error.get('msg', 'is invalid')).removeprefix('Value error, ')}"


def validate_feed(body: bytes) -> tuple[list[FeedEntry], list[RejectedEntry], int]:
    """Valid entries (first of each rewards_id), rejected ones with reasons, and the entry count."""
    entries = _entries(body)
    valid: list[FeedEntry] = []
    rejected: list[RejectedEntry] = []
    seen: set[int] = set()
    for index, raw in enumerate(entries):
        rewards_id = raw.get("rewards_id") if isinstance(raw, dict) else None
        try:
            entry = FeedEntry.model_validate(raw)
        except ValidationError as exc:
            rejected.append(RejectedEntry(index=index, rewards_id=rewards_id,
                                          errors=[_error_text(e) for e in exc.errors(include_input=False)]))
            continue
        if entry.rewards_id in seen:
            rejected.append(RejectedEntry(index=index, rewards_id=entry.rewards_id,
                                          errors=["rewards_id: listed more than once; the first entry is used"]))
            continue
        seen.add(entry.rewards_id)
        valid.append(entry)
    if not valid:
        raise FeedRejected(f"none of the feed's {len(entries)} entries is valid")
    return valid, rejected, len(entries)


def apply_feed(body: bytes, source: str) -> RefreshReport:
    """Validate a feed and bring the stored catalog in line with it."""
    try:
        valid, rejected, count = validate_feed(body)
    except FeedRejected as exc:
        logger.error("catalog feed rejected; nothing changed", extra={"source": source, "reason": str(exc)})
        metrics.add_metric(name="CatalogFeedRejected", unit="Count", value=1)
        return RefreshReport(source=source, applied=False, reason=str(exc))

    report = RefreshReport(source=source, applied=True, entries=count, valid=len(valid), rejected=rejected)
    now = now_iso()
    stored = store.catalog_state()
    for entry in valid:
        record = entry.model_dump(mode="json", exclude={"available"})
        fingerprint = content_hash(record)
        current = stored.get(entry.rewards_id)
        if current is not None and current["content_hash"] == fingerprint and current["available"] == entry.available:
            report.unchanged += 1
            continue
        written = store.save_reward(record, fingerprint, now, None if current is None else current["content_hash"],
                                    available=entry.available)
        if not written:
            report.conflicts += 1
        elif current is None:
            report.created += 1
        else:
            report.updated += 1

    listed = {e.rewards_id for e in valid} | {r.rewards_id for r in rejected if isinstance(r.rewards_id, int)}
    for rewards_id, current in stored.items():
        if rewards_id not in listed and current["available"]:
            if store.withdraw_reward(rewards_id, current["content_hash"], now):
                report.marked_unavailable += 1
            else:
                report.conflicts += 1

    for entry in rejected:
        logger.warning("catalog feed entry skipped", extra={"index": entry.index, "rewards_id": entry.rewards_id,
                                                            "errors": entry.errors})
    counts = {"CatalogItemsCreated": report.created, "CatalogItemsUpdated": report.updated,
              "CatalogItemsUnchanged": report.unchanged, "CatalogItemsMarkedUnavailable": report.marked_unavailable,
              "CatalogEntriesRejected": len(rejected), "CatalogWriteConflicts": report.conflicts}
    for name, value in counts.items():
        metrics.add_metric(name=name, unit="Count", value=value)
    logger.info("catalog refreshed", extra={"source": source, **counts})
    return report


def refresh_catalog() -> RefreshReport:
    """Fetch the configured feed and apply it. A feed that cannot be fetched raises (the run failed)."""
    feed = read_feed()
    return apply_feed(feed.body, feed.source)
