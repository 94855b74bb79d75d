"""The edge's checks of what a client sends outside a body: cursors (flexigift.store.wallet.decode_cursor)
and the helpers flexigift.api uses on query and path parameters. No network, no table."""

from __future__ import annotations

import base64
import json

import pytest

from flexigift import api
from flexigift.errors import InvalidCursor
from flexigift.store.wallet import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor

KEYS = {"PK", "SK", "GSI1PK", "GSI1SK"}
PARTITION = ("GSI1PK", "P#default#USER")
GOOD = {"PK": "P#default#USER#000000000003", "SK": "USER", "GSI1PK": "P#default#USER", "GSI1SK": "000000000003"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_the_api_issued_decodes_to_its_key():
    assert decode_cursor(encode_cursor(GOOD), KEYS, PARTITION) == GOOD


@pytest.mark.parametrize("cursor", [
    "", "!!", "A" * (MAX_CURSOR_LENGTH + 1), _b64(b"\xff\xfe"), _b64(b"[]"), _b64(b"null"), _b64(b"{}"),
    _b64(b"[" * 3000 + b"]" * 3000),                                       # nesting past the parser's recursion
    encode_cursor({**GOOD, "extra": "x"}), encode_cursor({k: v for k, v in GOOD.items() if k != "SK"}),
    encode_cursor({k.replace("GSI1", "GSI2"): v for k, v in GOOD.items()}),  # keys of another index
    _b64(json.dumps({**GOOD, "SK": 3}).encode()), _b64(json.dumps({**GOOD, "SK": None}).encode()),
    _b64(json.dumps({**GOOD, "SK": ["USER"]}).encode()), encode_cursor({**GOOD, "SK": ""}),
    encode_cursor({**GOOD, "GSI1SK": "x" * 1025}), encode_cursor({**GOOD, "PK": "x" * 2049}),
    _b64(json.dumps({**GOOD, "SK": "\ud800"}).encode()),                 # no UTF-8, no DynamoDB string
    encode_cursor({**GOOD, "GSI1PK": "P#acme#USER"}),                    # another program's partition
])
def test_any_other_cursor_is_an_invalid_cursor(cursor):
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor, KEYS, PARTITION)
    assert refused.value.status == 400 and refused.value.code == "invalid_cursor"


def test_key_values_at_dynamodbs_limits_are_accepted():
    at_limits = {**GOOD, "PK": "x" * 2048, "GSI1SK": "é" * 10 + "x" * 1004}
    assert decode_cursor(encode_cursor(at_limits), KEYS, PARTITION) == at_limits


@pytest.mark.parametrize("value, ok", [("1", True), ("pay_0123456789abcdef01234567", True), ("key_ab:c@d.e-f", True),
                                       ("a" * 64, True), ("a" * 65, False), ("", False), ("²", False), ("１", False),
                                       ("-1", False), ("a b", False), ("a\x00", False), ("é", False), ("..", False)])
def test_path_parameters_are_ids_the_api_issues(value, ok):
    assert bool(api._PATH_ID.fullmatch(value)) is ok


@pytest.mark.parametrize("value, ok", [("", True), ("jack@example.com", True), ("é" * 256, True), ("é" * 257, False),
                                       ("a\x00b", False), ("\x1f", False), ("\x7f", False), ("\ud800", False)])
def test_query_text_is_bounded_text_without_control_characters(value, ok):
    assert api._is_query_text(value) is ok


def test_a_parameter_name_quoted_in_an_error_is_short_and_encodable():
    assert api._shown("\ud800x") == "\\ud800x"
    assert len(api._shown("n" * 1000)) == 64
