"""Capacity units from real item sizes, per partition key of the table and of every index (figure f).

Pure functions (no AWS): item sizes by DynamoDB's rules, the attributes each index projects, and what a
write costs in the table and in each index given the item before and after it. `bench.scale_model` feeds
them the items moto holds before and after each request.

DynamoDB's rules used here (developer guide, "Capacity unit consumption", "Item sizes"):
- an item's size is the sum of its attribute names' and values' sizes: a string its UTF-8 bytes, a number
  about 1 byte per 2 significant digits + 1, binary its bytes, a boolean or null 1, a list or map 3 bytes
  plus its elements (each + 1 byte; a map's element also its name);
- a write costs 1 WCU per started KB of the larger of the item before and after; a read 1 RCU per started
  4 KB strongly consistent, half that eventually consistent (every index read is); a Query rounds the sum
  of the items it returns; a missing item still costs the minimum;
- in a transaction every item costs twice that;
- an index entry is written when the item enters or leaves the index (a changed index key is a delete
  and a put, possibly in two partitions) or when an attribute it projects changes; an index item holds
  the table's keys, the index's keys and the projected attributes.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

KB = 1024
READ_UNIT = 4 * KB


def number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    (kind, raw), = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return len(base64.b64decode(raw)) if isinstance(raw, str) else len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(number_size(v) for v in raw)
    if kind == "BS":
        return sum(len(base64.b64decode(v)) if isinstance(v, str) else len(v) for v in raw)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, dict[str, Any]] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def read_units(size: int, consistent: bool) -> Decimal:
    units = Decimal(max(1, math.ceil(size / READ_UNIT)))
    return units if consistent else units / 2


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    projection: str                       # ALL, KEYS_ONLY, INCLUDE
    included: frozenset[str] = frozenset()

    def projected(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        """The item's entry in this index (None when the item is not in it: a sparse index)."""
        if not item or self.pk not in item or self.sk not in item:
            return None
        if self.projection == "ALL":
            return dict(item)
        wanted = {"PK", "SK", self.pk, self.sk} | (self.included if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in wanted}


def indexes_of(table_definition: dict[str, Any]) -> list[Index]:
    found = []
    for gsi in table_definition.get("GlobalSecondaryIndexes", []):
        schema = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
        projection = gsi["Projection"]
        found.append(Index(gsi["IndexName"], schema["HASH"], schema["RANGE"], projection["ProjectionType"],
                           frozenset(projection.get("NonKeyAttributes", []))))
    return found


def partition_of(item: dict[str, Any], attribute: str) -> str:
    return str(item[attribute]["S"])


def write_costs(before: dict[str, Any] | None, after: dict[str, Any] | None, indexes: list[Index],
                transactional: bool) -> list[tuple[str, str, int]]:
    """(table or index name, partition key, WCU) of one item's write, in the table and each index."""
    factor = 2 if transactional else 1
    present = after or before
    if present is None:
        return []
    costs = [("table", partition_of(present, "PK"), factor * write_units(max(item_size(before), item_size(after))))]
    for index in indexes:
        old, new = index.projected(before), index.projected(after)
        if old is None and new is None:
            continue
        if old is not None and new is not None and old[index.pk] == new[index.pk] and old[index.sk] == new[index.sk]:
            if old != new:  # a projected attribute changed: the entry is rewritten in place
                costs.append((index.name, partition_of(new, index.pk),
                              write_units(max(item_size(old), item_size(new)))))
            continue
        if old is not None:
            costs.append((index.name, partition_of(old, index.pk), write_units(item_size(old))))
        if new is not None:
            costs.append((index.name, partition_of(new, index.pk), write_units(item_size(new))))
    return costs
