"""The wallet registry (users, gift cards, products) through its handlers, against moto.
Each test checks what is stored, not only what is answered."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.integration.conftest import all_items, stored
from tests.support import api_event, call, load_event

JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250, "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00", "eligible_issuer": "Kohls"}


def register_jack_with_card(card: dict | None = None) -> tuple[int, int]:
    status, user, _ = call("create_user", api_event("create_user", body=JACK))
    assert status == 201
    status, registered, _ = call("create_gift_card", api_event("create_gift_card", body=card or CARD))
    assert status == 201, registered
    return user["id"], registered["id"]


def link(user_id: int, cards: list[str], user: dict | None = None) -> tuple[int, dict]:
    status, body, _ = call("replace_user", api_event("replace_user", body={**(user or JACK), "gift_cards": cards},
                                                     path_id=user_id))
    return status, body


def record_activity(card_number: int, activity_type: str, amount: object, key: str) -> tuple[int, dict]:
    """A balance activity by Kohls' issuer key (the sample event's caller): the only way a balance moves."""
    event = api_event("create_gift_card_activity", path_id=card_number,
                      body={"type": activity_type, "amount": amount, "reason": "test"})
    event["headers"]["Idempotency-Key"] = key
    status, body, _ = call("create_gift_card_activity", event)
    return status, body


def assert_error(body: dict, code: str) -> None:
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], list)
    assert body["request_id"]


class TestQuickStart:
    def test_seed_walkthrough_returns_seed_shapes_and_stores_links(self, aws):
        """Given the seed's four requests, when made in order, then each answer carries the seed's fields
        with the seed's JSON types, and the card is stored as linked to Jack."""
        status, user, _ = call("create_user", api_event("create_user", body=JACK))
        assert status == 201
        assert {k: user[k] for k in JACK} == JACK and isinstance(user["id"], int)

        status, card, _ = call("create_gift_card", api_event("create_gift_card", body=CARD))
        assert status == 201
        assert {k: card[k] for k in CARD} == CARD and isinstance(card["id"], int)
        assert card["balance"] == 250 and isinstance(card["balance"], int)  # a JSON number, as in the seed

        status, linked = link(user["id"], ["kohls-gc-001"])
        assert status == 200 and linked["gift_cards"] == ["kohls-gc-001"] and linked["id"] == user["id"]

        status, product, _ = call("create_product", api_event("create_product", body=DOG_BED))
        assert status == 201 and product["price"] == "50.00" and isinstance(product["id"], int)

        assert stored(aws, f"P#default#CARD#{card['id']}", "CARD")["linked"] is True
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["card_count"] == 1
        assert stored(aws, f"P#default#USER#{user['id']}", "USER")["gift_cards"] == ["kohls-gc-001"]

    def test_every_sample_event_runs_against_a_seeded_table(self, aws):
        """Given the seed data, when each wallet sample event in events/ is invoked, then none fails. The
        sample PUT of a card sends back its stored balance (a PUT may not change it), so the seeded card
        holds the balance that sample names; the sample activity then loads value onto it."""
        put_balance = json.loads(load_event("replace_gift_card")["body"])["balance"]
        register_jack_with_card({**CARD, "balance": put_balance})
        call("create_product", api_event("create_product", body=DOG_BED))
        order = ["get_user", "list_users", "replace_user", "update_user", "get_gift_card", "list_gift_cards",
                 "replace_gift_card", "create_gift_card_activity", "list_gift_card_activities", "get_product",
                 "list_products", "replace_product", "update_product", "delete_product"]
        for name in order:
            status, body, _ = call(name, load_event(name))
            assert status in (200, 201, 204), (name, body)
        loaded = json.loads(load_event("create_gift_card_activity")["body"])["amount"]
        assert stored(aws, "P#default#CARD#1", "CARD")["balance"] == Decimal(put_balance) + loaded
        status, body, _ = call("update_gift_card", load_event("update_gift_card"))
        assert status == 200 and body["state"] == "BLOCKED"


class TestUniqueness:
    def test_duplicate_user_id_is_409_and_writes_no_second_user(self, aws):
        """Given user006, when registered again, then 409 naming user_id and only one user item exists."""
        call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("create_user", api_event("create_user", body={**JACK, "amazon_id": "other"}))
        assert status == 409
        assert_error(body, "conflict")
        assert body["error"]["fields"][0]["field"] == "user_id"
        assert [i["PK"] for i in all_items(aws) if i.get("type") == "USER"] == ["P#default#USER#1"]

    def test_duplicate_card_and_product_ids_are_409(self, aws):
        register_jack_with_card()
        status, body, _ = call("create_gift_card", api_event("create_gift_card", body=CARD))
        assert status == 409 and body["error"]["fields"][0]["field"] == "card_id"
        call("create_product", api_event("create_product", body=DOG_BED))
        status, body, _ = call("create_product", api_event("create_product", body=DOG_BED))
        assert status == 409 and body["error"]["fields"][0]["field"] == "product_id"
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["card_count"] == 1

    def test_changing_user_id_frees_the_old_one(self, aws):
        """Given a user without cards, when PUT renames user_id, then the old id can be registered again."""
        _, user, _ = call("create_user", api_event("create_user", body=JACK))
        status, body = link(user["id"], [], {**JACK, "user_id": "user007", "amazon_id": "amz0007"})
        assert status == 200 and body["user_id"] == "user007"
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE") is None
        assert stored(aws, "P#default#UNIQUE#AMAZON#amz3456", "UNIQUE") is None
        assert stored(aws, "P#default#UNIQUE#AMAZON#amz0007", "UNIQUE")["user_id"] == "user007"
        status, _, _ = call("create_user", api_event("create_user", body=JACK))
        assert status == 201


class TestLinks:
    def test_linking_an_unknown_card_is_refused_and_nothing_changes(self, aws):
        user_id, _ = register_jack_with_card()
        status, body = link(user_id, ["kohls-gc-001", "no-such-card"])
        assert status == 404
        assert_error(body, "not_found")
        assert body["error"]["fields"][0]["field"] == "gift_cards[1]"
        assert stored(aws, f"P#default#USER#{user_id}", "USER")["gift_cards"] == []
        assert stored(aws, "P#default#CARD#1", "CARD")["linked"] is False

    def test_linking_another_users_card_is_refused(self, aws):
        """Given Jill's card, when Jack tries to link it, then 409 says it belongs to another user."""
        jack_id, _ = register_jack_with_card()
        jill = {**JACK, "user_id": "user008", "amazon_id": "amz0008", "email": "jill@example.com"}
        call("create_user", api_event("create_user", body=jill))
        call("create_gift_card", api_event("create_gift_card", body={**CARD, "card_id": "jill-card", "user_id": "user008"}))
        status, body = link(jack_id, ["jill-card"])
        assert status == 409 and "another user" in body["error"]["fields"][0]["message"]
        assert stored(aws, "P#default#CARD#2", "CARD")["linked"] is False

    def test_put_without_gift_cards_clears_the_links_as_the_seed_warns(self, aws):
        user_id, card_id = register_jack_with_card()
        link(user_id, ["kohls-gc-001"])
        status, body, _ = call("replace_user", api_event("replace_user", body=JACK, path_id=user_id))
        assert status == 200 and body["gift_cards"] == []
        assert stored(aws, f"P#default#CARD#{card_id}", "CARD")["linked"] is False

    def test_patch_links_without_touching_other_fields(self, aws):
        user_id, _ = register_jack_with_card()
        status, body, _ = call("update_user", api_event("update_user", body={"gift_cards": ["kohls-gc-001"]},
                                                        path_id=user_id))
        assert status == 200 and body["gift_cards"] == ["kohls-gc-001"] and body["name"] == "Jack Johnson"

    def test_deleting_a_linked_card_removes_it_from_the_wallet(self, aws):
        """Given a linked card holding 250, when deleted, then 409 (its balance would vanish); once an
        ADJUST_DECREMENT brings it to 0, the delete takes it out of the wallet and frees its card_id."""
        user_id, card_id = register_jack_with_card()
        link(user_id, ["kohls-gc-001"])
        status, body, _ = call("delete_gift_card", api_event("delete_gift_card", path_id=card_id))
        assert status == 409 and body["error"]["fields"][0]["type"] == "card_in_use"
        assert stored(aws, f"P#default#USER#{user_id}", "USER")["gift_cards"] == ["kohls-gc-001"]
        assert record_activity(card_id, "ADJUST_DECREMENT", 250, "empty-before-delete")[0] == 201
        status, _, _ = call("delete_gift_card", api_event("delete_gift_card", path_id=card_id))
        assert status == 204
        assert stored(aws, f"P#default#USER#{user_id}", "USER")["gift_cards"] == []
        assert stored(aws, "P#default#UNIQUE#CARD#kohls-gc-001", "UNIQUE") is None
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["card_count"] == 0

    def test_a_user_with_cards_cannot_be_deleted_until_they_are_gone(self, aws):
        user_id, card_id = register_jack_with_card({**CARD, "balance": 0})
        status, body, _ = call("delete_user", api_event("delete_user", path_id=user_id))
        assert status == 409 and stored(aws, f"P#default#USER#{user_id}", "USER") is not None
        assert call("delete_gift_card", api_event("delete_gift_card", path_id=card_id))[0] == 204
        status, _, _ = call("delete_user", api_event("delete_user", path_id=user_id))
        assert status == 204
        assert stored(aws, f"P#default#USER#{user_id}", "USER") is None
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE") is None

    def test_a_linked_card_cannot_change_owner(self, aws):
        user_id, card_id = register_jack_with_card()
        link(user_id, ["kohls-gc-001"])
        call("create_user", api_event("create_user", body={**JACK, "user_id": "user008", "amazon_id": "amz0008"}))
        status, body, _ = call("update_gift_card", api_event("update_gift_card", body={"user_id": "user008"},
                                                             path_id=card_id))
        assert status == 409 and "unlink" in body["error"]["message"]
        assert stored(aws, f"P#default#CARD#{card_id}", "CARD")["user_id"] == "user006"

    def test_an_unlinked_card_moves_and_the_counts_follow(self, aws):
        _, card_id = register_jack_with_card()
        call("create_user", api_event("create_user", body={**JACK, "user_id": "user008", "amazon_id": "amz0008"}))
        status, body, _ = call("update_gift_card", api_event("update_gift_card", body={"user_id": "user008"},
                                                             path_id=card_id))
        assert status == 200 and body["user_id"] == "user008"
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["card_count"] == 0
        assert stored(aws, "P#default#UNIQUE#USER#user008", "UNIQUE")["card_count"] == 1

    def test_card_for_an_unknown_user_is_refused(self, aws):
        status, body, _ = call("create_gift_card", api_event("create_gift_card", body=CARD))
        assert status == 404 and body["error"]["fields"][0]["field"] == "user_id"
        assert not [i for i in all_items(aws) if i.get("type") == "CARD"]


class TestValidation:
    @pytest.mark.parametrize("raw, where", [
        ('{"user_id": "user006",}', "line 1"),
        ('{\n"user_id": "user006",\n}', "line 3"),
        ("", "empty"),
        ("not json", "line 1"),
    ])
    def test_malformed_json_is_400_saying_where(self, aws, raw, where):
        status, body, _ = call("create_user", api_event("create_user", raw_body=raw))
        assert status == 400
        assert_error(body, "malformed_json")
        assert where in body["error"]["message"]

    @pytest.mark.parametrize("raw", ["[" * 100000, "[1, 2]", '"x"', "null"])
    def test_bodies_that_are_not_objects_are_4xx_never_5xx(self, aws, raw):
        status, body, _ = call("create_user", api_event("create_user", raw_body=raw))
        assert status in (400, 422), body
        assert body["error"]["code"] in ("malformed_json", "validation_failed")

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    def test_a_non_json_body_is_415(self, aws, content_type):
        event = api_event("create_user", body=JACK)
        event["headers"]["Content-Type"] = content_type
        status, body, _ = call("create_user", event)
        assert status == 415
        assert_error(body, "unsupported_media_type")
        assert not any(i.get("type") == "USER" for i in all_items(aws))

    @pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON",
                                              "application/vnd.api+json"])
    def test_json_media_types_in_any_case_are_accepted(self, aws, content_type):
        event = api_event("create_user", body=JACK)
        event["headers"]["Content-Type"] = content_type
        assert call("create_user", event)[0] == 201

    def test_each_invalid_field_is_named(self, aws):
        status, body, _ = call("create_user", api_event("create_user", body={
            "user_id": "has space", "amazon_id": "", "name": "Jack", "email": "not-an-email", "extra": 1}))
        assert status == 422
        assert {f["field"] for f in body["error"]["fields"]} == {"user_id", "amazon_id", "email", "extra"}
        assert not all_items(aws) or all(i.get("type") != "USER" for i in all_items(aws))

    @pytest.mark.parametrize("balance, ok", [
        (250, True), ("250.00", True), (12.5, True), ("12.345", False), (-1, False), (True, False),
        ("NaN", False), (1e12, False), ("1e3", False),
    ])
    def test_money_is_decimal_with_two_places_and_never_negative(self, aws, balance, ok):
        call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("create_gift_card", api_event("create_gift_card", body={**CARD, "balance": balance}))
        assert (status == 201) == ok, body
        if ok:
            assert isinstance(stored(aws, f"P#default#CARD#{body['id']}", "CARD")["balance"], Decimal)
        else:
            assert status == 422 and body["error"]["fields"][0]["field"] == "balance"

    def test_balance_keeps_cents_exactly(self, aws):
        call("create_user", api_event("create_user", body=JACK))
        raw = '{"card_id": "c1", "user_id": "user006", "issuer": "Kohls", "balance": 0.10, "expiry_date": "2030-01-01"}'
        status, body, _ = call("create_gift_card", api_event("create_gift_card", raw_body=raw))
        assert status == 201
        assert stored(aws, f"P#default#CARD#{body['id']}", "CARD")["balance"] == Decimal("0.10")
        _, fetched, _ = call("get_gift_card", api_event("get_gift_card", path_id=body["id"]))
        assert str(fetched["balance"]) == "0.10"  # parsed with Decimal: the JSON literal was exactly 0.10

    def test_price_accepted_as_number_or_string_and_returned_as_seed_shows(self, aws):
        status, body, _ = call("create_product", api_event("create_product", body={**DOG_BED, "price": 50}))
        assert status == 201 and body["price"] == "50.00"
        status, body, _ = call("create_product", api_event("create_product", body={
            **DOG_BED, "product_id": "p2", "price": 0}))
        assert status == 422 and body["error"]["fields"][0]["field"] == "price"

    def test_expired_card_is_reported_expired(self, aws):
        call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("create_gift_card", api_event("create_gift_card", body={
            **CARD, "expiry_date": "2025-12-31"}))
        assert status == 201 and body["state"] == "EXPIRED" and body["expired"] is True

    @pytest.mark.parametrize("date", ["31/12/2025", "2025-13-01", 20251231, "2025-12-31T00:00:00"])
    def test_dates_must_be_iso(self, aws, date):
        call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("create_gift_card", api_event("create_gift_card", body={**CARD, "expiry_date": date}))
        assert status == 422 and body["error"]["fields"][0]["field"] == "expiry_date"

    def test_patch_cannot_null_a_required_field_or_be_empty(self, aws):
        _, user, _ = call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("update_user", api_event("update_user", body={"email": None}, path_id=user["id"]))
        assert status == 422 and body["error"]["fields"][0]["field"] == "email"
        status, body, _ = call("update_user", api_event("update_user", body={}, path_id=user["id"]))
        assert status == 422
        assert stored(aws, f"P#default#USER#{user['id']}", "USER")["email"] == JACK["email"]

    def test_put_requires_every_field(self, aws):
        _, user, _ = call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("replace_user", api_event("replace_user", body={"user_id": "user006"},
                                                         path_id=user["id"]))
        assert status == 422
        assert {f["field"] for f in body["error"]["fields"]} == {"amazon_id", "name", "email"}

    def test_body_id_must_match_path(self, aws):
        _, user, _ = call("create_user", api_event("create_user", body=JACK))
        status, body, _ = call("replace_user", api_event("replace_user", body={**JACK, "id": 99}, path_id=user["id"]))
        assert status == 422 and body["error"]["fields"][0]["field"] == "id"

    @pytest.mark.parametrize("name", ["get_user", "replace_user", "update_user", "delete_user", "get_gift_card",
                                      "update_gift_card", "list_gift_card_activities", "get_product",
                                      "delete_product"])
    def test_unknown_or_malformed_ids_are_404(self, aws, name):
        """Ids are numbered from 1: 0 and negatives name nothing, like an unknown number or a word."""
        for path_id in (999, "abc", 0, -1):
            status, body, _ = call(name, api_event(name, path_id=path_id))
            assert status == 404, (name, path_id, body)
            assert_error(body, "not_found")


class TestCollections:
    def test_filters_use_indexes_and_are_case_insensitive_where_sensible(self, aws):
        register_jack_with_card()
        call("create_product", api_event("create_product", body=DOG_BED))
        _, users, _ = call("list_users", api_event("list_users", query={"email": "JACK.Johnson@example.com"}))
        assert [u["user_id"] for u in users] == ["user006"]
        _, cards, _ = call("list_gift_cards", api_event("list_gift_cards", query={"user_id": "user006", "issuer": "kohls"}))
        assert [c["card_id"] for c in cards] == ["kohls-gc-001"]
        _, cards, _ = call("list_gift_cards", api_event("list_gift_cards", query={"user_id": "user006", "issuer": "Macys"}))
        assert cards == []
        _, products, _ = call("list_products", api_event("list_products", query={"eligible_issuer": "KOHLS"}))
        assert [p["product_id"] for p in products] == ["kohls-dogbed-001"]
        assert "Query" in aws.operations

    def test_a_listing_reads_its_records_eventually_consistently_and_a_get_by_id_consistently(self, aws):
        """Given Jack, his Kohl's card and a product, when each listing is read (users, an issuer's cards, a
        user's cards, products, API keys) and then a card by id, then every listing's BatchGetItem of its page's
        records asks for eventually consistent reads (half the read units: bench f's busiest read was a card on
        a popular issuer's first page) and GET /gift_cards/{id} still reads consistently."""
        from flexigift.aws import dynamodb

        _, card_number = register_jack_with_card()
        call("create_product", api_event("create_product", body=DOG_BED))
        call("create_api_key", api_event("create_api_key", body={"name": "reader", "scopes": ["wallet:read"]}))
        asked: list[tuple[str, dict]] = []

        def capture(model, params, **_):
            asked.append((model.name, params))

        dynamodb().meta.events.register("before-parameter-build.dynamodb.*", capture)
        try:
            for name, query in (("list_users", {}), ("list_gift_cards", {"issuer": "Kohls"}),
                                ("list_gift_cards", {"user_id": "user006"}), ("list_products", {}),
                                ("list_api_keys", {})):
                status, body, _ = call(name, api_event(name, query=query))
                assert status == 200 and len(body) >= 1, (name, body)
            listed = [params for op, params in asked if op == "BatchGetItem"]
            assert len(listed) == 5
            assert all(request["ConsistentRead"] is False for params in listed
                       for request in params["RequestItems"].values())
            asked.clear()
            status, _, _ = call("get_gift_card", api_event("get_gift_card", path_id=card_number))
            assert status == 200 and [params["ConsistentRead"] for op, params in asked if op == "GetItem"] == [True]
        finally:
            dynamodb().meta.events.unregister("before-parameter-build.dynamodb.*", capture)

    def test_unsupported_filter_is_400_naming_the_supported_ones(self, aws):
        status, body, _ = call("list_gift_cards", api_event("list_gift_cards", query={"balance": "1"}))
        assert status == 400
        assert_error(body, "unsupported_filter")
        assert "card_id, user_id, issuer" in body["error"]["message"]

    def test_pages_follow_the_link_header_to_the_end(self, aws):
        for n in range(7):
            call("create_product", api_event("create_product", body={**DOG_BED, "product_id": f"p{n}"}))
        seen, query = [], {"limit": "3"}
        for _ in range(5):
            status, page, headers = call("list_products", api_event("list_products", query=query))
            assert status == 200 and isinstance(page, list) and len(page) <= 3
            seen += [p["product_id"] for p in page]
            link_header = headers.get("Link")
            if not link_header:
                break
            assert link_header.endswith('rel="next"') and "/prod/products?" in link_header
            from urllib.parse import parse_qs, urlsplit

            query = {k: v[0] for k, v in parse_qs(urlsplit(link_header[1:link_header.index(">")]).query).items()}
        assert seen == [f"p{n}" for n in range(7)]

    @pytest.mark.parametrize("cursor", ["garbage", "eyJQSyI6IlgifQ", "%%%"])
    def test_a_forged_cursor_is_400(self, aws, cursor):
        status, body, _ = call("list_products", api_event("list_products", query={"cursor": cursor}))
        assert status == 400 and body["error"]["code"] == "invalid_cursor"

    @pytest.mark.parametrize("limit", ["0", "101", "abc"])
    def test_limit_out_of_range_is_422(self, aws, limit):
        status, body, _ = call("list_users", api_event("list_users", query={"limit": limit}))
        assert status == 422 and body["error"]["fields"][0]["field"] == "limit"


class TestScopes:
    def test_read_key_cannot_write(self, aws):
        status, body, _ = call("create_user", api_event("create_user", body=JACK, scopes="wallet:read"))
        assert status == 403
        assert_error(body, "forbidden")
        assert "wallet:write" in body["error"]["message"]
        assert not all_items(aws) or all(i.get("type") != "USER" for i in all_items(aws))

    @pytest.mark.parametrize("body", [{}, JACK, "not json"])
    def test_scope_is_checked_before_the_body(self, aws, body):
        """Given a read-only key, when it posts anything (valid, invalid, malformed), then 403, not 422/400."""
        event = api_event("create_user", scopes="wallet:read",
                          **({"raw_body": body} if isinstance(body, str) else {"body": body}))
        status, answer, _ = call("create_user", event)
        assert status == 403 and answer["error"]["code"] == "forbidden"

    def test_no_authorizer_context_is_401(self, aws):
        status, body, _ = call("list_users", api_event("list_users", authorizer=None))
        assert status == 401
        assert_error(body, "unauthorized")

    def test_admin_routes_need_admin(self, aws):
        status, _, _ = call("create_api_key", api_event("create_api_key", scopes="wallet:read wallet:write"))
        assert status == 403


class TestRouteFallback:
    def test_a_method_the_resource_lacks_is_405_with_allow(self, aws):
        status, body, headers = call("route_fallback", load_event("route_fallback"))
        assert status == 405
        assert_error(body, "method_not_allowed")
        assert set(headers["Allow"].split(",")) == {"GET", "POST"}

    def test_an_unknown_path_is_404(self, aws):
        event = load_event("route_fallback")
        event.update(resource="/{proxy+}", path="/nowhere", httpMethod="GET")
        status, body, _ = call("route_fallback", event)
        assert status == 404
        assert_error(body, "not_found")
