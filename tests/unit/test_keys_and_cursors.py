"""Key formats, opaque cursors and API-key parsing."""

import pytest

from flexigift.errors import InvalidCursor
from flexigift.logic.api_keys import hash_key, parse_authorization
from flexigift.store import keys
from flexigift.store.wallet import CARD, USER, decode_cursor, encode_cursor


def test_padded_ids_sort_numerically():
    assert sorted([keys.pad_id(10), keys.pad_id(9), keys.pad_id(100)]) == [keys.pad_id(9), keys.pad_id(10),
                                                                           keys.pad_id(100)]


def test_lookup_partitions_fold_case_only_where_declared():
    assert USER.index_value("default", "email", "Jack@Example.com") == "P#default#USER#email#jack@example.com"
    assert USER.index_value("default", "amazon_id", "AMZ1") == "P#default#USER#amazon_id#AMZ1"
    assert CARD.index_value("acme", "issuer", "Kohls") == "P#acme#CARD#issuer#kohls"


def test_every_tenant_key_carries_its_program_and_no_program_prefixes_another():
    """Given two programs, when any key of a record is built for each, then the partition keys differ and
    each begins with its own program's prefix, which no other program's prefix begins with."""
    builders = [
        lambda p: keys.entity_key(p, "USER", 7)["PK"], lambda p: keys.unique_key(p, "CARD", "kohls-gc-001")["PK"],
        lambda p: keys.counter_key(p, "USER")["PK"], lambda p: keys.index_partition(p, "CARD", None, None),
        lambda p: keys.index_partition(p, "CARD", "issuer", "kohls"), lambda p: keys.activity_key(p, 6, 2)["PK"],
        lambda p: keys.payment_key(p, "pay_1")["PK"], lambda p: keys.refund_key(p, "pay_1", 1)["PK"],
        lambda p: keys.idempotency_key(p, "payment", "k1")["PK"], lambda p: keys.api_key_pointer_key(p, "key_1")["PK"],
        lambda p: keys.api_keys_partition(p), lambda p: keys.reward_order_key(p, "ord_1")["PK"],
        lambda p: keys.reward_orders_partition(p), lambda p: keys.outbox_key(p, "m1")["PK"],
    ]
    for build in builders:
        a, b = build("acme"), build("acme2")
        assert a.startswith("P#acme#") and b.startswith("P#acme2#") and a != b


@pytest.mark.parametrize("program_id", ["", "a#b", "#"])
def test_a_program_id_that_could_reach_another_partition_is_refused(program_id):
    with pytest.raises(ValueError):
        keys.entity_key(program_id, "USER", 1)


def test_cursor_round_trip():
    last = {"PK": "PRODUCT#3", "SK": "PRODUCT", "GSI1PK": "PRODUCT", "GSI1SK": keys.pad_id(3)}
    cursor = encode_cursor(last)
    assert "=" not in cursor
    assert decode_cursor(cursor, set(last), ("GSI1PK", "PRODUCT")) == last


def test_a_cursor_from_another_listing_is_refused():
    cursor = encode_cursor({"PK": "USER#3", "SK": "USER", "GSI1PK": "USER", "GSI1SK": keys.pad_id(3)})
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, {"PK", "SK", "GSI1PK", "GSI1SK"}, ("GSI1PK", "PRODUCT"))


@pytest.mark.parametrize("header, key", [
    ("fgk_abc", "fgk_abc"), ("Bearer fgk_abc", "fgk_abc"), ("bearer   fgk_abc ", "fgk_abc"),
    ("", None), (None, None), ("Bearer", None), ("Bearer   ", None),
])
def test_authorization_header_forms(header, key):
    assert parse_authorization(header) == key


def test_keys_are_hashed_with_sha256():
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
