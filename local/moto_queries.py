"""Query for the local stack's moto in time that follows the partition, not the table.

moto 5.2.5 answers every Query (on the table or on an index) by sorting every item of the table
(`Table.all_items()`, DynamoType comparisons in Python) and then testing each one against the key condition.
On a table of 30,000 items one Query took 1.4 s here, so anything that queries (the authorization expiry sweep
reads 8 index partitions per minute at start) slowed down as data accumulated: a restart with 10,000 users
took 30 s.

This version hands moto's own query the candidates only, and lets it do everything else as before (range
conditions, sorting, paging, filters, projections, limits):
- on the table (or a local secondary index, which shares its partition key): the items of the one partition,
  read from the table's hash-key dict;
- on a global secondary index with one partition-key attribute: the items whose attribute has the value,
  from a map of that attribute's values to items. The map is built once and reused until the next request that
  changes state (bump(), called by the server under its lock for every such request), so the queries between
  two writes (a sweep, a page of a listing) share one pass over the table.
Anything else (a multi-attribute index key) runs moto's query unchanged.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models.table import GlobalSecondaryIndex, Table

_ORIGINAL = Table.query
_generation = [0]
_maps: dict[tuple[int, str], tuple[int, dict[Any, list[Any]]]] = {}


def bump() -> None:
    """Something may have changed an item: index maps are rebuilt when next needed."""
    _generation[0] += 1


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _partition(table: Table, hash_key: Any) -> list[Any]:
    found = table.items.get(hash_key)
    if found is None:
        return []
    return _sorted(list(found.values())) if table.range_key_attr else [found]


def _by_attribute(table: Table, attribute: str) -> dict[Any, list[Any]]:
    key = (id(table), attribute)
    cached = _maps.get(key)
    if cached is not None and cached[0] == _generation[0]:
        return cached[1]
    mapping: dict[Any, list[Any]] = {}
    for hash_set in table.items.values():
        for item in (hash_set.values() if table.range_key_attr else [hash_set]):
            value = item.attrs.get(attribute)
            if value is not None:
                mapping.setdefault(value, []).append(item)
    _maps[key] = (_generation[0], mapping)
    return mapping


def _candidates(table: Table, hash_key: Any, index_name: str | None,
                hash_key_conditions: list[tuple[str, Any]] | None) -> list[Any] | None:
    if not index_name:
        return _partition(table, hash_key) if hash_key is not None else None
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None  # moto answers the unknown index
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    if len(hashes) != 1:
        return None
    value = dict(hash_key_conditions or []).get(hashes[0], hash_key)
    if value is None:
        return None
    if not isinstance(index, GlobalSecondaryIndex) and hashes[0] == table.hash_key_attr:
        return _partition(table, value)
    return _sorted(list(_by_attribute(table, hashes[0]).get(value, [])))


def query(self: Table, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
          exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
          index_name: str | None = None, *rest: Any, **kwargs: Any) -> Any:
    arguments = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                 projection_expressions, index_name, *rest)
    candidates = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
    if candidates is None:
        return _ORIGINAL(self, *arguments, **kwargs)
    self.all_items = lambda: candidates  # type: ignore[method-assign]  # moto's query iterates these only
    try:
        return _ORIGINAL(self, *arguments, **kwargs)
    finally:
        del self.all_items


def install() -> None:
    Table.query = query  # type: ignore[method-assign]


def uninstall() -> None:
    Table.query = _ORIGINAL  # type: ignore[method-assign]
