"""The routes that were cut down to the fewest DynamoDB requests (bench figure b) keep every rule: one
conditional UpdateItem that cannot create, cannot skip a guard move or a ledger entry, and tells 404 from a
change by the item its failed condition returns; BatchGetItem reads that still see what they must. Each test
counts the requests (`aws.operations`, the application's client) and checks what is stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import all_items, stored
from tests.integration.test_checkout import (
    DOG_BED,
    JACK,
    KOHLS_CARD,
    activities,
    adjust,
    assert_reconciles,
    jack_with_cards,
    ledger,
    patch_card,
    pay,
    quote,
    refund,
    register_card,
    register_product,
    register_user,
)
from tests.support import api_event, call

D = Decimal


def counted(aws: Any, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """What fn returns, and the DynamoDB operations it made."""
    aws.operations.clear()
    result = fn(*args, **kwargs)
    return result, list(aws.operations)


def patch(module: str, number: int, body: dict) -> tuple[int, dict]:
    status, answer, _ = call(module, api_event(module, body=body, path_id=number))
    return status, answer


def put(module: str, number: int, body: dict) -> tuple[int, dict]:
    status, answer, _ = call(module, api_event(module, body=body, path_id=number))
    return status, answer


class TestOneUpdateItem:
    def test_a_patch_that_changes_one_item_is_one_update_that_moves_the_version_and_the_index(self, aws):
        """Given Jack, when his email is patched, then one UpdateItem writes it, its lookup index key follows
        (a filter by the new email finds him) and the version moves by one."""
        number = register_user()
        before = stored(aws, f"P#default#USER#{number}", "USER")
        (status, body), ops = counted(aws, patch, "update_user", number, {"email": "Jack.New@Example.com"})
        assert status == 200 and body["email"].lower() == "jack.new@example.com" and body["name"] == JACK["name"]
        assert ops == ["UpdateItem"]
        after = stored(aws, f"P#default#USER#{number}", "USER")
        assert after["version"] == before["version"] + 1
        assert after["GSI4PK"] == "P#default#USER#email#jack.new@example.com" and after["created_at"] == before["created_at"]
        status, found, _ = call("list_users", api_event("list_users", query={"email": "jack.new@example.com"}))
        assert status == 200 and [u["id"] for u in found] == [number]

    @pytest.mark.parametrize("module,body", [
        ("update_user", {"name": "Nobody"}),
        ("update_product", {"price": "1.00"}),
        ("update_gift_card", {"state": "BLOCKED"}),
        ("replace_product", DOG_BED),
    ])
    def test_an_unknown_id_is_404_and_the_update_creates_nothing(self, aws, module, body):
        """Given an empty table, when a record that does not exist is updated, then 404 and nothing is stored
        (an UpdateItem would create the item if its condition did not require it)."""
        status, answer = patch(module, 41, body)
        assert status == 404 and answer["error"]["code"] == "not_found"
        assert all_items(aws) == [] or all(not i["PK"].endswith("#41") for i in all_items(aws))

    @pytest.mark.parametrize("module", ["update_user", "update_product", "update_gift_card"])
    def test_an_empty_patch_of_an_unknown_id_is_still_404_before_422(self, aws, module):
        """Given no record 41, when an empty PATCH is sent to it, then 404 (as when the record was read first);
        for an existing record the same PATCH is 422."""
        assert patch(module, 41, {})[0] == 404
        register_user()
        register_product()
        register_card()
        status, body = patch(module, 1, {})
        assert status == 422 and body["error"]["fields"][0]["field"] == "body"

    def test_a_product_rename_moves_its_guard_and_a_taken_name_is_409_with_nothing_written(self, aws):
        """Given two products, when one is renamed to a free product_id, then its guard moves in the same
        transaction; when renamed to the other's product_id, then 409 and nothing changes. The issuer key's
        PATCH names its issuer, so the UpdateItem's condition holds the binding and no read comes first."""
        register_product()
        register_product({**DOG_BED, "product_id": "kohls-bowl-002"})
        (status, body), ops = counted(aws, patch, "update_product", 1, {"product_id": "kohls-dogbed-009",
                                                                      "eligible_issuer": "Kohls"})
        assert status == 200 and body["product_id"] == "kohls-dogbed-009"
        assert ops == ["UpdateItem", "TransactWriteItems"]  # the failed condition returned the product
        assert stored(aws, "P#default#UNIQUE#PRODUCT#kohls-dogbed-001", "UNIQUE") is None
        assert stored(aws, "P#default#UNIQUE#PRODUCT#kohls-dogbed-009", "UNIQUE")["ref_id"] == 1
        before = all_items(aws)
        status, body = patch("update_product", 1, {"product_id": "kohls-bowl-002", "price": "9.00"})
        assert status == 409 and body["error"]["fields"][0]["field"] == "product_id"
        assert all_items(aws) == before

    def test_a_card_put_with_the_same_balance_is_one_update_and_another_balance_writes_nothing(self, aws):
        """Given a card of 250, when it is PUT with balance 250 and a new expiry, then one UpdateItem and no
        ledger entry; when PUT with 200, then 422 after that one UpdateItem (its condition held the balance)
        and nothing is written; the change is an ADJUST_DECREMENT activity, an entry at the new version."""
        register_user()
        number = register_card()
        body = {**KOHLS_CARD, "expiry_date": "2031-01-31"}
        (status, answer), ops = counted(aws, put, "replace_gift_card", number, body)
        assert status == 200 and answer["expiry_date"] == "2031-01-31" and ops == ["UpdateItem"]
        assert [e["activity_type"] for e in ledger(aws, number)] == ["ACTIVATE"]
        before = all_items(aws)
        (status, answer), ops = counted(aws, put, "replace_gift_card", number, {**body, "balance": "200.00"})
        assert status == 422 and answer["error"]["fields"][0]["type"] == "balance_not_settable"
        assert ops == ["UpdateItem"] and all_items(aws) == before
        activity, ops = counted(aws, adjust, number, "ADJUST_DECREMENT", 50)
        assert activity["balance"] == 200 and ops.count("TransactWriteItems") == 1 and "Scan" not in ops
        entries = assert_reconciles(aws, number)
        assert entries[-1]["activity_type"] == "ADJUST_DECREMENT" and entries[-1]["amount"] == D("-50")
        assert entries[-1]["sequence"] == stored(aws, f"P#default#CARD#{number}", "CARD")["version"]

    def test_a_card_changed_between_the_failed_update_and_the_transaction_is_read_again(self, aws, monkeypatch):
        """Given a move to another owner whose UpdateItem returned the card as it was (its condition held the
        owner), when another request blocks the card before the transaction, then the transaction's version
        condition fails, the request starts again from a fresh read, and neither change is lost; the owners'
        counts follow and the ledger is untouched."""
        from flexigift.logic import records
        from flexigift.store import wallet

        register_user()
        register_user({**JACK, "user_id": "user007", "amazon_id": "amz7", "email": "jill@example.com"})
        number = register_card()
        real = wallet.update_in_place
        raced = []

        def update_then_race(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if not raced:
                raced.append(True)
                monkeypatch.setattr(records.wallet, "update_in_place", real)
                patch_card(number, state="BLOCKED")  # a concurrent writer, after the condition failed
            return result

        monkeypatch.setattr(records.wallet, "update_in_place", update_then_race)
        status, answer = patch("update_gift_card", number, {"user_id": "user007", "issuer": "Kohls"})
        assert raced, "the single UpdateItem was not tried"
        assert status == 200 and answer["user_id"] == "user007" and answer["state"] == "BLOCKED", answer
        card = stored(aws, f"P#default#CARD#{number}", "CARD")
        assert card["state"] == "BLOCKED" and card["user_id"] == "user007" and card["balance"] == D("250")
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["card_count"] == 0
        assert stored(aws, "P#default#UNIQUE#USER#user007", "UNIQUE")["card_count"] == 1
        assert [e["activity_type"] for e in assert_reconciles(aws, number)] == ["ACTIVATE"]

    def test_a_linked_cards_owner_cannot_change_through_the_single_update(self, aws):
        """Given a linked card, when a PATCH moves it to another user, then 409 as before and nothing changes."""
        (number,) = jack_with_cards(KOHLS_CARD)
        register_user({**JACK, "user_id": "user007", "amazon_id": "amz7", "email": "jill@example.com"})
        before = all_items(aws)
        status, body = patch("update_gift_card", number, {"user_id": "user007"})
        assert status == 409 and body["error"]["code"] == "conflict"
        assert all_items(aws) == before


class TestWallet:
    def test_linking_reads_once_and_keeps_the_wallet_on_the_guard_and_the_owner_on_the_card(self, aws):
        """Given Jack and his card, when a PUT links it, then one BatchGetItem and one transaction; the user's
        guard lists the card's numeric id, the card names its owner; unlinking clears both."""
        user = register_user()
        number = register_card()
        body = {**JACK, "gift_cards": [KOHLS_CARD["card_id"]]}
        (status, answer), ops = counted(aws, put, "replace_user", user, body)
        assert status == 200 and answer["gift_cards"] == [KOHLS_CARD["card_id"]]
        assert ops == ["BatchGetItem", "TransactWriteItems"]
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["wallet_cards"] == {KOHLS_CARD["card_id"]: number}
        assert stored(aws, f"P#default#CARD#{number}", "CARD")["owner_ref"] == user
        status, answer = put("replace_user", user, {**JACK, "gift_cards": []})
        assert status == 200 and answer["gift_cards"] == []
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["wallet_cards"] == {}
        card = stored(aws, f"P#default#CARD#{number}", "CARD")
        assert card["linked"] is False and "owner_ref" not in card

    def test_unknown_and_foreign_cards_are_each_named_and_nothing_is_written(self, aws):
        """Given a card of Jill's, when Jack's PUT names it and an unknown card, then 404 naming both, as
        before the guards were read in one request; nothing is stored."""
        user = register_user()
        register_user({**JACK, "user_id": "jill", "amazon_id": "amz7", "email": "jill@example.com"})
        register_card(card_id="jills-card", user_id="jill")
        before = all_items(aws)
        status, body = put("replace_user", user, {**JACK, "gift_cards": ["jills-card", "no-such-card"]})
        assert status == 404
        assert [(f["field"], f["type"]) for f in body["error"]["fields"]] == [
            ("gift_cards[0]", "foreign_card"), ("gift_cards[1]", "unknown_card")]
        assert all_items(aws) == before
        status, body = put("replace_user", user, {**JACK, "gift_cards": ["jills-card"]})
        assert status == 409 and body["error"]["fields"][0]["type"] == "foreign_card"  # found by the transaction
        assert all_items(aws) == before

    def test_a_patch_that_leaves_cards_alone_is_one_update_even_for_a_user_with_cards(self, aws):
        """Given Jack with a linked card, when his name is patched, then one UpdateItem; when a PUT repeats his
        gift_cards unchanged, then it is one BatchGetItem and one write, and the links stay."""
        (number,) = jack_with_cards(KOHLS_CARD)
        (status, answer), ops = counted(aws, patch, "update_user", 1, {"name": "Jack R. Johnson"})
        assert status == 200 and answer["gift_cards"] == [KOHLS_CARD["card_id"]] and ops == ["UpdateItem"]
        (status, answer), ops = counted(aws, put, "replace_user", 1, {**JACK, "gift_cards": [KOHLS_CARD["card_id"]]})
        assert status == 200 and ops == ["BatchGetItem", "TransactWriteItems"]
        assert stored(aws, f"P#default#CARD#{number}", "CARD")["linked"] is True

    def test_deleting_a_linked_card_takes_it_out_of_the_wallet_on_the_guard(self, aws):
        """Given Jack's linked card (empty: a card holding a balance cannot be deleted), when it is deleted,
        then his gift_cards and his guard's wallet lose it in the same transaction, and a quote no longer
        finds it."""
        (number,) = jack_with_cards({**KOHLS_CARD, "balance": 0})
        (status, _, _), ops = counted(aws, call, "delete_gift_card", api_event("delete_gift_card", path_id=number))
        assert status == 204 and ops == ["GetItem", "BatchGetItem", "TransactWriteItems"]
        assert stored(aws, "P#default#USER#1", "USER")["gift_cards"] == []
        guard = stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")
        assert guard["wallet_cards"] == {} and guard["card_count"] == 0
        status, body, _ = quote()
        assert status == 200 and body["payable_by_gift_cards"] == 0


class TestCheckoutReads:
    def test_quote_and_payment_read_with_two_batch_gets(self, aws):
        """Given Jack's linked card and a product, when quoted and paid, then the quote is two BatchGetItem
        and the payment the same two plus its one transaction."""
        jack_with_cards(KOHLS_CARD)
        (status, _, _), ops = counted(aws, quote)
        assert status == 200 and ops == ["BatchGetItem", "BatchGetItem"]
        (status, _, _), ops = counted(aws, pay)
        assert status == 201 and ops == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]

    def test_a_guard_written_before_the_wallet_was_kept_on_it_still_finds_the_cards(self, aws):
        """Given a user guard without wallet_cards (stored before this change), when quoted and paid, then the
        cards are found through the user item and the cards' guards, and the payment is captured."""
        (number,) = jack_with_cards(KOHLS_CARD)
        aws.update_item(TableName="flexigift-test", Key={"PK": {"S": "P#default#UNIQUE#USER#user006"}, "SK": {"S": "UNIQUE"}},
                        UpdateExpression="REMOVE wallet_cards")
        status, body, _ = quote()
        assert status == 200 and body["allocations"][0]["gift_card_id"] == number
        status, body, _ = pay()
        assert status == 201 and body["amount"] == 50
        assert_reconciles(aws, number)

    def test_unknown_user_and_products_are_still_named_together(self, aws):
        """Given nothing registered, when quoted, then 404 naming the user and the product, from one read."""
        (status, body, _), ops = counted(aws, quote)
        assert status == 404 and ops == ["BatchGetItem"]
        assert [f["field"] for f in body["error"]["fields"]] == ["user_id", "items[0].product_id"]

    def test_a_replayed_payment_reads_its_claim_in_the_first_batch(self, aws):
        """Given a captured payment, when the same request is sent again, then one BatchGetItem finds the
        claim and one Query reads the payment: nothing is debited twice."""
        (number,) = jack_with_cards(KOHLS_CARD)
        first = pay()
        (status, body, headers), ops = counted(aws, pay)
        assert status == 201 and headers["Idempotent-Replayed"] == "true" and body["id"] == first[1]["id"]
        assert ops == ["BatchGetItem", "Query"]
        assert [e["activity_type"] for e in ledger(aws, number)] == ["ACTIVATE", "REDEEM"]

    def test_a_refund_reads_the_payment_then_its_cards_and_an_unknown_payment_is_404(self, aws):
        """Given a payment, when refunded, then a BatchGetItem of the payment, one of its cards, one
        transaction; an unknown payment is 404 with nothing written."""
        (number,) = jack_with_cards(KOHLS_CARD)
        payment = pay()[1]
        (status, body, _), ops = counted(aws, refund, payment["id"], {"amount": "20.00"})
        assert status == 201 and ops == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]
        assert_reconciles(aws, number)
        before = all_items(aws)
        status, body, _ = refund("pay_" + "0" * 24, {"amount": "1.00"})
        assert status == 404 and all_items(aws) == before


class TestBatchGet:
    def test_unprocessed_keys_are_asked_for_again(self, aws, monkeypatch):
        """Given DynamoDB leaves a key unprocessed (throttled), when a BatchGetItem reads it, then it is asked
        for again and every item is returned."""
        from flexigift.aws import dynamodb
        from flexigift.store import table

        register_user()
        register_product()
        monkeypatch.setattr(table.time, "sleep", lambda _s: None)
        client = dynamodb()
        real = client.batch_get_item
        calls = []

        def throttled(**kwargs: Any) -> dict:
            calls.append(kwargs)
            if len(calls) == 1:  # answer the first key only; leave the rest unprocessed
                request = kwargs["RequestItems"]["flexigift-test"]
                answer = real(RequestItems={"flexigift-test": {**request, "Keys": request["Keys"][:1]}})
                answer["UnprocessedKeys"] = {"flexigift-test": {**request, "Keys": request["Keys"][1:]}}
                return answer
            return real(**kwargs)

        monkeypatch.setattr(client, "batch_get_item", throttled)
        found = table.batch_get([{"PK": "P#default#USER#1", "SK": "USER"}, {"PK": "P#default#PRODUCT#1", "SK": "PRODUCT"},
                                 {"PK": "P#default#USER#1", "SK": "USER"}, {"PK": "P#default#USER#99", "SK": "USER"}])
        assert set(found) == {("P#default#USER#1", "USER"), ("P#default#PRODUCT#1", "PRODUCT")}
        assert len(calls) == 2 and len(calls[0]["RequestItems"]["flexigift-test"]["Keys"]) == 3  # repeats merged


class TestActivitiesInOneQuery:
    def test_the_page_and_the_card_come_from_one_query(self, aws):
        """Given a card with a short ledger, when listed, then one Query answers."""
        (number,) = jack_with_cards(KOHLS_CARD)
        (status, body, _), ops = counted(aws, activities, number)
        assert status == 200 and [a["type"] for a in body] == ["ACTIVATE"] and ops == ["Query"]

    def test_a_deleted_cards_ledger_remains_but_the_listing_is_404(self, aws):
        """Given a card that was emptied and deleted (its ledger stays), when its activities are listed, then 404."""
        register_user()
        number = register_card()
        adjust(number, "ADJUST_DECREMENT", 250)
        assert call("delete_gift_card", api_event("delete_gift_card", path_id=number))[0] == 204
        assert [e["activity_type"] for e in ledger(aws, number)] == ["ACTIVATE", "ADJUST_DECREMENT"]  # they outlive it
        status, body, _ = activities(number)
        assert status == 404

    def test_a_ledger_longer_than_the_page_is_paged_whole_and_asks_for_the_card_once(self, aws):
        """Given a card with 5 entries, when listed 2 at a time, then the pages hold every entry once, in
        order; a page that ends before the card also reads the card (GetItem)."""
        register_user()
        number = register_card()
        for _ in range(4):
            adjust(number, "ADJUST_DECREMENT", 10)
        seen, query, pages = [], {"limit": "2"}, 0
        while True:
            (status, body, headers), ops = counted(aws, activities, number, query)
            assert status == 200 and ops in (["Query"], ["Query", "GetItem"])
            seen += [a["balance_after"] for a in body]
            pages += 1
            link = headers.get("Link")
            if not link:
                break
            query = {"limit": "2", "cursor": link.split("cursor=")[1].split(">")[0].split("&")[0]}
        assert seen == [250, 240, 230, 220, 210] and pages == 3
        status, body, _ = activities(number, {"type": "ADJUST_DECREMENT", "limit": "2"})
        assert status == 200 and len(body) == 2 and all(a["type"] == "ADJUST_DECREMENT" for a in body)
        assert activities(number, {"type": "ADJUST"})[0] == 422  # the old type is gone


class TestRevokeAndResend:
    def test_revoking_is_a_pointer_read_and_one_update_and_an_unknown_key_is_404(self, aws):
        """Given an issued key, when revoked, then GetItem (pointer) + UpdateItem, answered REVOKED; revoking
        again keeps the first revoked_at; an unknown key_id is 404."""
        status, issued, _ = call("create_api_key", api_event("create_api_key"))
        assert status == 201
        event = api_event("revoke_api_key", path_id=issued["key_id"])
        (status, body, _), ops = counted(aws, call, "revoke_api_key", event)
        assert status == 200 and body["status"] == "REVOKED" and ops == ["GetItem", "UpdateItem"]
        status, again, _ = call("revoke_api_key", api_event("revoke_api_key", path_id=issued["key_id"]))
        assert status == 200 and again["revoked_at"] == body["revoked_at"]
        status, body, _ = call("revoke_api_key", api_event("revoke_api_key", path_id="key_0000000000000000"))
        assert status == 404
