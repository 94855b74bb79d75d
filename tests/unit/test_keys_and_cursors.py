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


def test_an_event_chunk_is_keyed_by_its_first_event_in_its_programs_listing():
    """Given a chunk's first event, then its key is the program's (or the type's) listing shard from a hash of
    the chunk id, its sort key `<listed_at>#<chunk id>`, and event_chunk_key_at finds it again from the sort key
    (a cursor's position); the event item itself stays outside every listing partition."""
    key = keys.event_chunk_key("acme", None, "2026-12-03T10:00:00.000Z", "evt_" + "a" * 24)
    shard = keys.shard_of_text("evt_" + "a" * 24, keys.EVENT_LIST_SHARDS)
    assert key == {"PK": f"P#acme#EVENTS#{shard}", "SK": "2026-12-03T10:00:00.000Z#evt_" + "a" * 24}
    typed = keys.event_chunk_key("acme", "payment.captured", "2026-12-03T10:00:00.000Z", "evt_" + "a" * 24)
    assert typed["PK"] == f"P#acme#EVENTS#payment.captured#{shard}" and typed["SK"] == key["SK"]
    assert keys.event_chunk_key_at("acme", "payment.captured", key["SK"]) == typed
    assert not keys.event_key("acme", "evt_" + "a" * 24)["PK"].startswith(keys.events_partition("acme") + "#")


def test_a_chunk_cursor_carries_its_offset_and_no_other_listings_cursor_passes():
    """Given the event listing (chunks) and another listing, then a chunk cursor round-trips (position, offset);
    a cursor without an offset, with a bad one, or of the type listing or the old GSI1 listing is a 400."""
    import base64
    import json

    from flexigift.store.events import events_listing
    from flexigift.store.listing import Listing, decode_chunk_cursor
    from flexigift.store.listing import encode_cursor as encode

    listing = events_listing("default", None)
    cursor = encode(listing, "2026-12-03T10:00:00.000Z#evt_1", 3)
    assert decode_chunk_cursor(cursor, listing) == ("2026-12-03T10:00:00.000Z#evt_1", 3)
    others = [encode(listing, "2026-12-03T10:00:00.000Z#evt_1"),
              encode(events_listing("default", "payment.captured"), "x#evt_1", 0),
              encode(events_listing("acme", None), "x#evt_1", 0),
              encode(Listing("GSI1", keys.events_partition("default"), sharded=True, forward=False), "x#evt_1", 0)]
    for bad_offset in (-1, "3", True, 10**9, None):
        raw = {"listing": listing.name, "index": listing.index, "after": "x#evt_1", "offset": bad_offset}
        others.append(base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("="))
    for other in others:
        with pytest.raises(InvalidCursor):
            decode_chunk_cursor(other, listing)
