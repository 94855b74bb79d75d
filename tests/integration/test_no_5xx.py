"""No 5xx from any input: every query parameter, path parameter and cursor of every HTTP function, given
strings a client (or an attacker) may send, is answered or refused with a 4xx in the one error shape.

Found this way: GET /rewards/catalog?limit=%C2%B2 answered 500 ('²'.isdigit() is True, int('²') fails)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from flexigift.store import keys
from flexigift.store.wallet import encode_cursor
from tests.support import api_event, call

PROGRAM = "default"
ADMIN = {"principalId": "key_fuzz", "key_id": "key_fuzz", "scopes": "admin", "program_id": PROGRAM,
         "issuer": "", "operator": "true"}

# Strings that have broken parsers: unicode digits (superscript, Arabic-Indic, fullwidth), huge numbers,
# signs, exponents, underscores, blanks, NUL and other control characters, a lone surrogate, bidi marks,
# percent-escapes left encoded, and values longer than any DynamoDB key.
NASTY = ["²", "١٢", "１", "9" * 40, "-1", "0", "+1", "1.0", "1e3", "0x10", "1_0", " 5", "5 ", "\t1", "", " ",
         "\x00", "a\x00b", "\x7f", "\ud800", "\u202e1", "%00", "%C2%B2", "a" * 5000, "é" * 1500, "𝟙" * 600]

LISTINGS: dict[str, tuple[str, ...]] = {
    "list_users": ("user_id", "amazon_id", "email"), "list_gift_cards": ("card_id", "user_id", "issuer"),
    "list_products": ("product_id", "eligible_issuer"), "list_gift_card_activities": ("type",),
    "list_api_keys": (), "list_reward_orders": (), "get_rewards_catalog": ("country",),
}
WITH_PATH_ID = ["get_user", "replace_user", "update_user", "delete_user", "get_gift_card", "replace_gift_card",
                "update_gift_card", "delete_gift_card", "create_gift_card_activity", "list_gift_card_activities",
                "get_product", "replace_product", "update_product", "delete_product", "get_payment", "create_refund",
                "get_reward_order", "resend_reward_order", "revoke_api_key"]


def _call(module: str, event: dict[str, Any]) -> tuple[int, Any]:
    event["headers"]["Idempotency-Key"] = "no-5xx-1"
    status, body, _ = call(module, event)
    return status, body


def _assert_refusal_or_answer(status: int, body: Any, allowed: set[int]) -> None:
    assert status < 500 and status in allowed, (status, body)
    if status >= 400:
        assert body["status"] == "error" and body["error"]["code"], body


@pytest.mark.parametrize("module", sorted(LISTINGS))
def test_any_query_value_is_answered_or_refused_with_a_4xx(aws, module: str) -> None:
    # Given each query parameter the operation reads, and one it does not
    for name in ("limit", "cursor", *LISTINGS[module], "unknown"):
        for value in NASTY:
            # When it carries a string that has broken parsers
            status, body = _call(module, api_event(module, query={name: value}, authorizer=ADMIN))
            # Then the answer is a page (200), or a 4xx in the one error shape; never a 5xx
            _assert_refusal_or_answer(status, body, {200, 400, 404, 422})


@pytest.mark.parametrize("module", sorted(LISTINGS))
def test_a_repeated_query_parameter_is_a_400(aws, module: str) -> None:
    name = (*LISTINGS[module], "limit")[0]
    event = api_event(module, authorizer=ADMIN)
    event["queryStringParameters"] = {name: "5"}
    event["multiValueQueryStringParameters"] = {name: ["5", "6"]}
    status, body = _call(module, event)
    assert status == 400 and body["error"]["code"] == "unsupported_filter", body


def test_the_catalog_limit_that_answered_500_is_refused(aws) -> None:
    # Given the catalog, which is one answer and no pages, When ?limit=² (%C2%B2) is sent
    status, body = _call("get_rewards_catalog", api_event("get_rewards_catalog", query={"limit": "²"}))
    # Then it is refused as a parameter the operation does not read: 400, not the 500 it used to be
    assert status == 400 and body["error"]["code"] == "unsupported_filter", body


@pytest.mark.parametrize("value", ["²", "١٢", "１", "9" * 40, "0", "101", "-1", "", " 5", "1e1"])
def test_limit_is_ascii_digits_from_1_to_the_maximum(aws, value: str) -> None:
    status, body = _call("list_users", api_event("list_users", query={"limit": value}, authorizer=ADMIN))
    assert status == 422 and body["error"]["fields"][0]["field"] == "limit", body


@pytest.mark.parametrize("value", ["a" * 257, "a\x00b", "\x1f", "\ud800"])
def test_a_filter_value_no_stored_value_could_have_is_a_422(aws, value: str) -> None:
    status, body = _call("list_users", api_event("list_users", query={"email": value}, authorizer=ADMIN))
    assert status == 422 and body["error"]["fields"][0]["field"] == "email", body


def test_a_filter_value_of_the_maximum_length_is_answered(aws) -> None:
    status, body = _call("list_users", api_event("list_users", query={"email": "é" * 256}, authorizer=ADMIN))
    assert status == 200 and body == [], body


@pytest.mark.parametrize("module", WITH_PATH_ID)
def test_any_path_parameter_is_answered_or_is_a_404(aws, module: str) -> None:
    for value in [v for v in NASTY if v] + ["a" * 65, "pay_" + "0" * 61, "key_ü", "1/2", "..", "."]:
        status, body = _call(module, api_event(module, path_id=value, authorizer=ADMIN))
        # a path parameter the API never issues names no resource: 404 (a body may be refused first: 4xx)
        _assert_refusal_or_answer(status, body, {400, 404, 409, 422})


@pytest.mark.parametrize("module", ["get_user", "get_payment", "get_reward_order", "revoke_api_key"])
def test_a_malformed_path_id_is_a_404(aws, module: str) -> None:
    for value in ("a" * 65, "\x00", "²", "-1", "1.0" if module == "get_user" else "a b"):
        status, body = _call(module, api_event(module, path_id=value, authorizer=ADMIN))
        assert status == 404 and body["error"]["code"] == "not_found", (value, body)


def test_a_numeric_id_beyond_what_json_clients_hold_is_a_404(aws) -> None:
    status, body = _call("get_user", api_event("get_user", path_id=2**53, authorizer=ADMIN))
    assert status == 404, body


# --- cursors -------------------------------------------------------------------------------------

# Each paged listing's partition (the caller's) and the key attributes of its cursor. The sharded listings
# (store.listing) name the listing and a position: {"listing", "index", "after"}.
CARD = 1
PAGED = {
    "list_users": ("listing", keys.index_partition(PROGRAM, "USER", None, None), ("listing", "index", "after")),
    "list_gift_cards": ("listing", keys.index_partition(PROGRAM, "CARD", None, None), ("listing", "index", "after")),
    "list_products": ("listing", keys.index_partition(PROGRAM, "PRODUCT", None, None), ("listing", "index", "after")),
    "list_api_keys": ("listing", keys.api_keys_partition(PROGRAM), ("listing", "index", "after")),
    "list_reward_orders": ("listing", keys.reward_orders_partition(PROGRAM), ("listing", "index", "after")),
    "list_gift_card_activities": ("PK", keys.activity_key(PROGRAM, CARD, 0)["PK"], ("PK", "SK")),
}


def _well_formed(module: str) -> dict[str, str]:
    pk_name, partition, names = PAGED[module]
    if pk_name == "listing":
        return {"listing": partition, "index": "GSI1", "after": "000000000007"}
    key = {name: f"{keys.ACTIVITY_PREFIX}000000000007" if name == "SK" else f"X#{name}" for name in names}
    key[pk_name] = partition
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _forgeries(module: str) -> dict[str, str]:
    good = _well_formed(module)
    pk_name = PAGED[module][0]
    other_program = {**good, pk_name: good[pk_name].replace(f"P#{PROGRAM}#", "P#acme#", 1)}
    other_index = ({**good, "index": "GSI2"} if "index" in good
                   else {**good, "GSI1PK": good["PK"], "GSI1SK": good["SK"]})
    first_sort = "after" if "after" in good else next(k for k in good if k.endswith("SK"))
    return {
        "not base64": "!!!not-base64!!!",
        "base64 of no JSON": _b64(b"\xff\xfe not json"),
        "a JSON list": _b64(b"[1, 2]"),
        "a JSON string": _b64(b'"PK"'),
        "deeply nested JSON": _b64(b"[" * 5000 + b"]" * 5000),
        "an empty object": _b64(b"{}"),
        "an extra key": encode_cursor({**good, "extra": "x"}),
        "a missing key": encode_cursor({k: v for k, v in good.items() if k != first_sort}),
        "keys of another index": encode_cursor(other_index),
        "a number for a key": _b64(json.dumps({**good, first_sort: 7}).encode()),
        "null for a key": _b64(json.dumps({**good, first_sort: None}).encode()),
        "an object for a key": _b64(json.dumps({**good, first_sort: {"S": "x"}}).encode()),
        "an empty key": encode_cursor({**good, first_sort: ""}),
        "a sort key over 1024 bytes": encode_cursor({**good, first_sort: "é" * 600}),
        "a lone surrogate": _b64(json.dumps({**good, first_sort: "\ud800"}).encode()),
        "another program's partition": encode_cursor(other_program),
        "too long": "A" * 9000,
    }


@pytest.mark.parametrize("module", sorted(PAGED))
def test_a_forged_or_malformed_cursor_is_a_400_invalid_cursor(aws, module: str) -> None:
    for what, cursor in _forgeries(module).items():
        # Given a cursor the API did not issue, When the listing is asked for the page after it
        status, body = _call(module, api_event(module, query={"cursor": cursor}, authorizer=ADMIN))
        # Then it is refused as an invalid cursor, never a 500, and never read from another partition
        assert status == 400 and body["error"]["code"] == "invalid_cursor", (what, status, body)


@pytest.mark.parametrize("module", sorted(PAGED))
def test_a_well_formed_cursor_in_the_callers_own_partition_only_moves_within_it(aws, module: str) -> None:
    # Given a cursor forged in the caller's own partition (the position of an item that does not exist)
    cursor = encode_cursor(_well_formed(module))
    # When it is used, Then DynamoDB resumes within that partition: an answer (a page; or 404 for the ledger
    # of a card that does not exist), not an error from the table
    status, body = _call(module, api_event(module, query={"cursor": cursor}, authorizer=ADMIN))
    assert status in (200, 404), body


def test_cursors_still_page_through_a_listing(aws) -> None:
    # Given three users, When they are listed one per page, following each page's cursor
    for n in range(3):
        body = {"user_id": f"u{n}", "amazon_id": f"amz{n}", "name": f"User {n}", "email": f"u{n}@example.com"}
        status, created, _ = call("create_user", api_event("create_user", body=body, authorizer=ADMIN))
        assert status == 201, created
    seen, cursor = [], None
    for _ in range(5):
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        status, page, headers = call("list_users", api_event("list_users", query=query, authorizer=ADMIN))
        assert status == 200, page
        seen += [u["user_id"] for u in page]
        link = headers.get("Link")
        if not link:
            break
        from urllib.parse import parse_qs, urlsplit
        cursor = parse_qs(urlsplit(link[1:link.index(">")]).query)["cursor"][0]
    # Then every user is seen once, in order
    assert seen == ["u0", "u1", "u2"]
