"""Figure e: the scheduled catalog refresh on a 10,000-item feed (the shape of feeds/catalog.json), against
moto in process: time and DynamoDB writes of a first refresh, then of a second one with the same feed. The time
spent inside DynamoDB calls (moto's in-process work, most of the total) is told apart from the rest: the
refresh's own reading, validating, hashing and comparing."""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

from bench.moto_env import moto_aws
from bench.report import Figure
from local import template

ITEMS = int(os.environ.get("BENCH_CATALOG_ITEMS", "10000"))
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
SECOND_RUN_TARGET = 0.01  # "nearly nothing": at most 1% of the first run's writes


def large_feed(items: int = ITEMS) -> bytes:
    """The sample feed's entries, repeated with new ids and names until there are `items` of them."""
    sample = json.loads((template.ROOT / "feeds" / "catalog.json").read_text())
    patterns: list[dict[str, Any]] = sample["rewards"]
    rewards = []
    for n in range(items):
        entry = copy.deepcopy(patterns[n % len(patterns)])
        entry["rewards_id"] = 100_000 + n
        entry["rewards_name"] = f"{entry['rewards_name']} #{n}"
        rewards.append(entry)
    return json.dumps({**sample, "rewards": rewards}).encode()


def _writes(counts: dict[str, int]) -> int:
    return sum(counts.get(name, 0) for name in WRITES)


def run() -> list[Figure]:
    feed = large_feed()
    with moto_aws() as aws:
        from flexigift.logic.refresh_catalog import refresh_catalog

        aws.upload_feed(feed)
        aws.counter.take()
        aws.clock.take()
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            report = refresh_catalog()
            runs.append((time.perf_counter() - start, aws.clock.take(), aws.counter.take(), report))
    (first_s, first_db, first, first_report), (second_s, second_db, second, second_report) = runs

    def calls(counts: dict[str, int]) -> str:
        return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))

    first_writes, second_writes = _writes(first), _writes(second)
    return [
        Figure("e", f"catalog refresh, {ITEMS:,} items, first run",
               f"{first_s:.1f} s ({first_s - first_db:.1f} s outside DynamoDB calls), {first_writes:,} writes",
               "", None, f"created {first_report.created:,}; {calls(first)}"),
        Figure("e", f"catalog refresh, {ITEMS:,} items, same feed again",
               f"{second_s:.1f} s ({second_s - second_db:.1f} s outside DynamoDB calls), {second_writes:,} writes",
               f"<= {SECOND_RUN_TARGET:.0%} of first run's writes ({int(first_writes * SECOND_RUN_TARGET)})",
               second_writes <= first_writes * SECOND_RUN_TARGET,
               f"unchanged {second_report.unchanged:,}; {calls(second)}"),
    ]
