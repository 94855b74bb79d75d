"""The scale model's capacity arithmetic (bench/capacity.py): DynamoDB's item sizes and which index entries a
write touches. No AWS."""

from __future__ import annotations

from decimal import Decimal

from bench.capacity import Index, item_size, read_units, write_costs, write_units

KEYS_ONLY = Index("GSI1", "GSI1PK", "GSI1SK", "KEYS_ONLY")
INCLUDE = Index("GSI2", "GSI2PK", "GSI2SK", "INCLUDE", frozenset({"name"}))


def _card(balance: str, listing: str = "P#d#CARD#3", name: str = "x") -> dict:
    return {"PK": {"S": "P#d#CARD#3"}, "SK": {"S": "CARD"}, "balance": {"N": balance}, "name": {"S": name},
            "GSI1PK": {"S": listing}, "GSI1SK": {"S": "000000000003"},
            "GSI2PK": {"S": "P#d#CARD#card_id#c"}, "GSI2SK": {"S": "000000000003"}}


def test_item_size_counts_names_and_values_by_dynamodbs_rules():
    assert item_size({"a": {"S": "héllo"}}) == 1 + 6                     # UTF-8 bytes
    assert item_size({"n": {"N": "250.00"}}) == 1 + 2                    # "25": 1 byte per 2 digits + 1
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size(None) == 0


def test_units_round_up_per_kb_written_and_per_4_kb_read():
    assert write_units(1) == 1 and write_units(1024) == 1 and write_units(1025) == 2
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=False) == Decimal(1)
    assert read_units(0, consistent=False) == Decimal("0.5")  # a missing item still costs the minimum


def test_a_change_to_an_unprojected_attribute_writes_no_index_entry():
    costs = write_costs(_card("250"), _card("200"), [KEYS_ONLY, INCLUDE], transactional=True)
    assert costs == [("table", "P#d#CARD#3", 2)]


def test_a_changed_projected_attribute_rewrites_the_entry_and_a_moved_key_deletes_and_puts():
    costs = write_costs(_card("250", name="x"), _card("250", name="y"), [KEYS_ONLY, INCLUDE], transactional=False)
    assert [where for where, _, _ in costs] == ["table", "GSI2"]
    moved = write_costs(_card("250"), _card("250", listing="P#d#CARD#4"), [KEYS_ONLY], transactional=False)
    assert [(where, part) for where, part, _ in moved] == [("table", "P#d#CARD#3"), ("GSI1", "P#d#CARD#3"),
                                                           ("GSI1", "P#d#CARD#4")]


def test_a_new_item_puts_its_entries_and_a_deleted_one_removes_them():
    assert [w for w, _, _ in write_costs(None, _card("1"), [KEYS_ONLY, INCLUDE], transactional=False)] == \
        ["table", "GSI1", "GSI2"]
    assert [w for w, _, _ in write_costs(_card("1"), None, [KEYS_ONLY], transactional=False)] == ["table", "GSI1"]
