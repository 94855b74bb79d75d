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
    assert USER.index_value("email", "Jack@Example.com") == "USER#email#jack@example.com"
    assert USER.index_value("amazon_id", "AMZ1") == "USER#amazon_id#AMZ1"
    assert CARD.index_value("issuer", "Kohls") == "CARD#issuer#kohls"


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
