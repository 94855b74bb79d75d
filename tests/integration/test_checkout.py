"""Checkout through its handlers, against moto: quote, pay, refund, and every card's ledger.
Each test checks what is stored (balances, ledger entries, payment and idempotency items), not only
what is answered; a refused request must leave the table exactly as it was."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest

from flexigift.store.table import from_attr
from tests.integration.conftest import TABLE, all_items, stored
from tests.support import api_event, call, load_event

D = Decimal
JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
KOHLS_CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
              "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}
TREAT = {"product_id": "kohls-treat-007", "name": "Dog Treats", "price": "7.00", "eligible_issuer": "Kohls"}
BASKET = {"user_id": "user006", "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]}


# --- arranging a wallet through the wallet's own handlers ---------------------------------------------


def register_user(user: dict = JACK) -> int:
    status, body, _ = call("create_user", api_event("create_user", body=user))
    assert status == 201, body
    return body["id"]


def as_issuer(event: dict, issuer: str) -> dict:
    """The event as sent by the issuer key of `issuer` (the samples carry Kohls'): a card or product is
    registered and changed by its own issuer's key."""
    event["requestContext"]["authorizer"].update(key_id=f"key_{issuer.lower()}", principalId=f"key_{issuer.lower()}",
                                                 scopes="issuer", issuer=issuer)
    return event


def register_card(**overrides: Any) -> int:
    card = {**KOHLS_CARD, **overrides}
    status, body, _ = call("create_gift_card", as_issuer(api_event("create_gift_card", body=card), card["issuer"]))
    assert status == 201, body
    return body["id"]


def link(user_number: int, card_ids: list[str], user: dict = JACK) -> None:
    status, body, _ = call("replace_user", api_event("replace_user", body={**user, "gift_cards": card_ids},
                                                     path_id=user_number))
    assert status == 200, body


def register_product(product: dict = DOG_BED) -> None:
    status, body, _ = call("create_product", api_event("create_product", body=product))
    assert status == 201, body


def patch_card(number: int, **changes: Any) -> dict:
    status, body, _ = call("update_gift_card", api_event("update_gift_card", body=changes, path_id=number))
    assert status == 200, body
    return body


def record_activity(number: int, activity_type: str, amount: Any, key: str | None = None):
    """POST /gift_cards/{id}/activities by the card's issuer (Kohls): the one way a balance is changed by hand."""
    event = api_event("create_gift_card_activity", path_id=number,
                      body={"type": activity_type, "amount": amount, "reason": "test"})
    event["headers"]["Idempotency-Key"] = key or str(uuid.uuid4())
    return call("create_gift_card_activity", event)


def adjust(number: int, activity_type: str, amount: Any) -> dict:
    status, body, _ = record_activity(number, activity_type, amount)
    assert status == 201, body
    return body


def jack_with_cards(*cards: dict, products: tuple[dict, ...] = (DOG_BED,)) -> list[int]:
    """Jack, his cards (all linked) and the products; returns the cards' numeric ids."""
    user = register_user()
    numbers = [register_card(**c) for c in cards]
    link(user, [{**KOHLS_CARD, **c}["card_id"] for c in cards])
    for product in products:
        register_product(product)
    return numbers


# --- calling checkout -----------------------------------------------------------------------------


def quote(body: dict = BASKET, scopes: str = "checkout"):
    return call("checkout_quote", api_event("checkout_quote", body=body, scopes=scopes))


def pay(body: dict = BASKET, key: str | None = "key-0001", scopes: str = "checkout", key_id: str = "key_sample"):
    event = api_event("create_payment", body=body, scopes=scopes)
    event["requestContext"]["authorizer"]["key_id"] = key_id
    event["headers"].pop("Idempotency-Key", None)
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
    return call("create_payment", event)


NEW_KEY = object()


def refund(payment_id: str, body: dict | None = None, key: Any = NEW_KEY):
    """A refund under its own fresh Idempotency-Key (a refund requires one), the given key, or none (None)."""
    event = api_event("create_refund", body=body if body is not None else {}, path_id=payment_id)
    event["headers"].pop("Idempotency-Key", None)
    if key is not None:
        event["headers"]["Idempotency-Key"] = str(uuid.uuid4()) if key is NEW_KEY else key
    return call("create_refund", event)


def get_payment(payment_id: str, program_id: str = "default"):
    event = api_event("get_payment", path_id=payment_id)
    event["requestContext"]["authorizer"]["program_id"] = program_id
    return call("get_payment", event)


def activities(number: int, query: dict | None = None, scopes: str = "wallet:read"):
    return call("list_gift_card_activities", api_event("list_gift_card_activities", path_id=number,
                                                       query=query if query is not None else {}, scopes=scopes))


# --- reading what is stored -----------------------------------------------------------------------


def balance(aws, number: int) -> Decimal:
    return stored(aws, f"P#default#CARD#{number}", "CARD")["balance"]


def ledger(aws, number: int) -> list[dict]:
    response = aws.query(TableName=TABLE, KeyConditionExpression="PK = :pk AND begins_with(SK, :a)",
                         ExpressionAttributeValues={":pk": {"S": f"P#default#CARD#{number}"}, ":a": {"S": "ACTIVITY#"}},
                         ConsistentRead=True)
    return [from_attr(i) for i in response["Items"]]


def assert_reconciles(aws, number: int) -> list[dict]:
    """The card's balance is the sum of its ledger, and each entry's balance_after follows from the last."""
    entries = ledger(aws, number)
    running = D(0)
    for entry in entries:
        running += entry["amount"]
        assert entry["balance_after"] == running, entry
    assert balance(aws, number) == running == sum(e["amount"] for e in entries)
    assert [e["sequence"] for e in entries] == sorted({e["sequence"] for e in entries})
    return entries


def items_of_type(aws, kind: str) -> list[dict]:
    return [i for i in all_items(aws) if i.get("type") == kind]


def snapshot(aws) -> list[dict]:
    return sorted(all_items(aws), key=lambda i: (i["PK"], i["SK"]))


def assert_error(body: dict, code: str, *fields: str) -> None:
    assert body["status"] == "error" and body["error"]["code"] == code, body
    assert body["error"]["message"]
    named = {f["field"] for f in body["error"]["fields"]}
    assert set(fields) <= named, (fields, named)


# --- quote ----------------------------------------------------------------------------------------


class TestQuote:
    def test_jacks_quote_for_the_dog_bed(self, aws):
        """Given Jack's linked Kohl's card holding 250 and the 50.00 dog bed, when he asks for a quote, then his
        card can pay all of it, nothing remains, and nothing is written."""
        (card,) = jack_with_cards(KOHLS_CARD)
        before = snapshot(aws)
        status, body, _ = quote()
        assert status == 200, body
        line = body["items"][0]
        assert line["product_id"] == "kohls-dogbed-001" and line["amount"] == D("50")
        assert [c["card_id"] for c in line["cards"]] == ["kohls-gc-001"] and line["cards"][0]["gift_card_id"] == card
        assert (body["total"], body["payable_by_gift_cards"], body["remainder_due"]) == (D("50"), D("50"), D("0"))
        assert body["allocations"] == [{"card_id": "kohls-gc-001", "gift_card_id": card, "amount": D("50"),
                                        "balance_after": D("200")}]
        assert snapshot(aws) == before

    def test_only_linked_active_unexpired_funded_cards_of_the_issuer_are_offered(self, aws):
        """Given Jack's cards: a good Kohls card, a blocked one, an expired one, an empty one, a Target card,
        and a Kohls card registered but not linked, when quoting the dog bed, then only the good card is offered."""
        register_user()
        good = {**KOHLS_CARD, "card_id": "good", "balance": 20}
        others = [{**KOHLS_CARD, "card_id": "blocked", "state": "BLOCKED"},
                  {**KOHLS_CARD, "card_id": "expired", "expiry_date": "2020-01-01"},
                  {**KOHLS_CARD, "card_id": "empty", "balance": 0},
                  {**KOHLS_CARD, "card_id": "target", "issuer": "Target"}]
        for c in [good, *others, {**KOHLS_CARD, "card_id": "unlinked"}]:
            register_card(**c)
        link(1, [c["card_id"] for c in [good, *others]])
        register_product()
        status, body, _ = quote()
        assert status == 200
        assert [c["card_id"] for c in body["items"][0]["cards"]] == ["good"]
        assert (body["payable_by_gift_cards"], body["remainder_due"]) == (D("20"), D("30"))

    def test_unknown_user_and_product_are_404_naming_them(self, aws):
        """Given nothing registered, when quoting, then 404 names the user and the product."""
        status, body, _ = quote({"user_id": "nobody", "items": [{"product_id": "nothing", "quantity": 2}]})
        assert status == 404
        assert_error(body, "not_found", "user_id", "items[0].product_id")

    @pytest.mark.parametrize("body, field", [
        ({"items": [{"product_id": "kohls-dogbed-001"}]}, "body"),          # neither user_id nor amazon_id
        ({**BASKET, "amazon_id": "amz3456"}, "body"),                         # both
        ({**BASKET, "items": [{"product_id": "kohls-dogbed-001", "quantity": 0}]}, "items.0.quantity"),
        ({**BASKET, "items": [{"product_id": "kohls-dogbed-001", "quantity": 1.5}]}, "items.0.quantity"),  # 1.0 is 1
        ({**BASKET, "items": []}, "items"),
        ({**BASKET, "coupon": "x"}, "coupon"),
    ])
    def test_invalid_requests_are_422_naming_the_field(self, aws, body, field):
        status, response, _ = quote(body)
        assert status == 422
        assert_error(response, "validation_failed", field)

    def test_a_wallet_key_cannot_quote(self, aws):
        status, body, _ = quote(scopes="wallet:read wallet:write")
        assert status == 403 and body["error"]["code"] == "forbidden"


# --- payments -------------------------------------------------------------------------------------


class TestPayment:
    def test_payment_debits_the_card_and_writes_a_redeem_entry(self, aws):
        """Given Jack's 250 card, when he pays for the dog bed, then 201 with the payment, the card holds 200,
        its ledger gains a REDEEM of -50 referencing the payment, and the payment and its key are stored."""
        (card,) = jack_with_cards(KOHLS_CARD)
        status, payment, headers = pay()
        assert status == 201, payment
        assert headers["Idempotent-Replayed"] == "false"
        assert payment["status"] == "captured" and payment["amount"] == D("50") and payment["remainder_due"] == 0
        assert payment["allocations"] == [{"card_id": "kohls-gc-001", "gift_card_id": card, "amount": D("50"),
                                           "balance_after": D("200")}]
        assert payment["user_id"] == "user006" and payment["items"][0]["product_id"] == "kohls-dogbed-001"
        assert payment["id"].startswith("pay_") and payment["created_at"]

        assert balance(aws, card) == D("200")
        entries = assert_reconciles(aws, card)
        assert [(e["activity_type"], e["amount"], e.get("reference")) for e in entries] == [
            ("ACTIVATE", D("250"), None), ("REDEEM", D("-50"), payment["id"])]
        stored_payment = stored(aws, f"P#default#PAYMENT#{payment['id']}", "PAYMENT")
        assert stored_payment["amount"] == D("50") and stored_payment["status"] == "captured"
        claim = stored(aws, "P#default#IDEMPOTENCY#payment#key-0001", "IDEMPOTENCY")
        assert claim["payment_id"] == payment["id"] and len(claim["request_hash"]) == 64

        status, fetched, _ = get_payment(payment["id"])
        assert status == 200 and fetched["id"] == payment["id"] and fetched["refunds"] == []

    def test_several_cards_are_spent_soonest_expiry_first(self, aws):
        """Given a 30 card expiring 2027 and a 250 card expiring 2030, when paying 2 dog beds (100), then the
        2027 card is emptied and the 2030 card pays the other 70."""
        soon, later = jack_with_cards({"card_id": "soon", "balance": 30, "expiry_date": "2027-01-01"},
                                      {"card_id": "later", "balance": 250})
        status, payment, _ = pay({**BASKET, "items": [{"product_id": "kohls-dogbed-001", "quantity": 2}]})
        assert status == 201, payment
        assert [(a["card_id"], a["amount"]) for a in payment["allocations"]] == [("soon", D("30")), ("later", D("70"))]
        assert (balance(aws, soon), balance(aws, later)) == (D("0"), D("180"))
        assert_reconciles(aws, soon) and assert_reconciles(aws, later)

    def test_named_cards_are_used_in_the_named_order(self, aws):
        """Given two cards, when the merchant names the later-expiring one, then only it is debited."""
        soon, later = jack_with_cards({"card_id": "soon", "balance": 100, "expiry_date": "2027-01-01"},
                                      {"card_id": "later", "balance": 100})
        status, payment, _ = pay({**BASKET, "cards": ["later"]})
        assert status == 201 and [a["card_id"] for a in payment["allocations"]] == ["later"]
        assert (balance(aws, soon), balance(aws, later)) == (D("100"), D("50"))

    def test_not_enough_value_is_409_saying_what_is_available_and_writes_nothing(self, aws):
        """Given a 40 card and the 50 dog bed, when paying without allow_remainder, then 409 says 40.00 of 50.00
        can be paid, and the table is exactly as before (no debit, no ledger entry, no payment, no key)."""
        (card,) = jack_with_cards({"balance": 40})
        before = snapshot(aws)
        status, body, _ = pay()
        assert status == 409
        assert_error(body, "insufficient_funds", "items[0]")
        assert "40.00 of 50.00" in body["error"]["message"] and "allow_remainder" in body["error"]["message"]
        assert snapshot(aws) == before

    def test_allow_remainder_captures_what_the_cards_hold(self, aws):
        """Given a 40 card and the 50 dog bed, when paying with allow_remainder, then 40 is captured, 10 is due."""
        (card,) = jack_with_cards({"balance": 40})
        status, payment, _ = pay({**BASKET, "allow_remainder": True})
        assert status == 201
        assert (payment["amount"], payment["remainder_due"], payment["total"]) == (D("40"), D("10"), D("50"))
        assert balance(aws, card) == 0
        assert_reconciles(aws, card)

    def test_no_usable_card_is_409_even_with_allow_remainder(self, aws):
        """Given only a Target card, when paying for a Kohls item with allow_remainder, then 409: a payment of
        nothing is not recorded."""
        jack_with_cards({"issuer": "Target"})
        before = snapshot(aws)
        status, body, _ = pay({**BASKET, "allow_remainder": True})
        assert status == 409 and body["error"]["code"] == "insufficient_funds"
        assert snapshot(aws) == before

    @pytest.mark.parametrize("card", [{"state": "BLOCKED"}, {"expiry_date": "2020-01-01"}],
                             ids=["blocked", "expired"])
    def test_blocked_and_expired_cards_are_not_debited(self, aws, card):
        """Given Jack's only card blocked or expired, when paying (by default or naming it), then 409 and the
        card keeps its balance."""
        (number,) = jack_with_cards(card)
        before = snapshot(aws)
        status, body, _ = pay()
        assert status == 409 and body["error"]["code"] == "insufficient_funds"
        status, body, _ = pay({**BASKET, "cards": ["kohls-gc-001"]}, key="key-0002")
        assert status == 409
        assert_error(body, "card_unusable", "cards[0]")
        assert snapshot(aws) == before and balance(aws, number) == D("250")

    def test_a_card_blocked_after_the_read_is_refused_by_the_transaction(self, aws, monkeypatch):
        """Given a payment planned from a read in which the card was ACTIVE, when the card is blocked before the
        write, then the transaction's condition refuses the debit, the retry sees BLOCKED, and 409."""
        from flexigift.logic import checkout_wallet
        from flexigift.logic import pay as pay_logic

        (number,) = jack_with_cards(KOHLS_CARD)
        from flexigift.models.checkout import PaymentCreate

        stale = checkout_wallet.read_wallet("default", PaymentCreate(**BASKET))
        patch_card(number, state="BLOCKED")
        monkeypatch.setattr(pay_logic, "read_wallet", lambda program_id, body, first=None: stale)
        before = snapshot(aws)
        status, body, _ = pay()
        assert status == 409 and body["error"]["code"] == "insufficient_funds"
        assert snapshot(aws) == before

    def test_a_payment_that_loses_every_race_within_its_budget_is_a_409_that_charges_nothing(self, aws,
                                                                                            monkeypatch):
        """Given a payment whose every plan is stale (the card's version moved on after the read), when the
        retry budget runs out, then 409 conflict saying to retry with the same key, nothing is written, and
        that Idempotency-Key is still free: the same request, once the race is over, is captured."""
        from flexigift.logic import checkout_wallet, retries
        from flexigift.logic import pay as pay_logic
        from flexigift.models.checkout import PaymentCreate

        (number,) = jack_with_cards(KOHLS_CARD)
        stale = checkout_wallet.read_wallet("default", PaymentCreate(**BASKET))
        assert pay(key="key-earlier")[0] == 201  # the card's version moves past the stale read
        monkeypatch.setattr(pay_logic, "read_wallet", lambda program_id, body, first=None: stale)
        monkeypatch.setattr(pay_logic, "reread_cards", lambda program_id, current: stale)
        monkeypatch.setattr(retries, "RETRY_SECONDS", 0.2)
        before = snapshot(aws)
        status, body, _ = pay(key="key-later")
        assert status == 409 and body["error"]["code"] == "conflict", body
        assert "Idempotency-Key" in body["error"]["message"]
        assert snapshot(aws) == before and balance(aws, number) == D("200")
        monkeypatch.undo()
        status, body, _ = pay(key="key-later")
        assert status == 201, body
        assert balance(aws, number) == D("150")

    def test_unlinked_or_foreign_cards_cannot_be_named(self, aws):
        """Given a card registered to Jack but not linked, when the merchant names it, then 404 (not in the
        wallet) and no debit."""
        jack_with_cards(KOHLS_CARD)
        register_card(card_id="spare")
        status, body, _ = pay({**BASKET, "cards": ["spare"]})
        assert status == 404
        assert_error(body, "not_found", "cards[0]")
        status, body, _ = pay({**BASKET, "cards": ["no-such-card"]}, key="key-0002")
        assert status == 404
        assert not items_of_type(aws, "PAYMENT")

    def test_scopes_a_wallet_key_cannot_spend_and_a_checkout_key_cannot_register_products(self, aws):
        """Given the wallet, when an issuer's wallet:write key pays, then 403 and nothing is debited; when a
        checkout key registers a product, then 403."""
        (number,) = jack_with_cards(KOHLS_CARD)
        status, body, _ = pay(scopes="wallet:read wallet:write")
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert balance(aws, number) == D("250")
        status, body, _ = call("create_product", api_event("create_product", body=TREAT, scopes="checkout"))
        assert status == 403
        assert stored(aws, "P#default#UNIQUE#PRODUCT#kohls-treat-007", "UNIQUE") is None

    def test_unknown_payment_is_404_and_other_programs_cannot_see_it(self, aws):
        jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        assert get_payment("pay_000000000000000000000000")[0] == 404
        assert get_payment("not-a-payment-id")[0] == 404
        assert get_payment(payment["id"], program_id="other-program")[0] == 404


# --- idempotency ----------------------------------------------------------------------------------


class TestIdempotency:
    def test_a_retry_with_the_same_key_returns_the_same_payment_and_debits_nothing_more(self, aws):
        """Given a payment made with key K, when the identical request is sent again with K, then the answer is the
        same payment (marked replayed), the card was debited once, and one payment and one REDEEM exist."""
        (number,) = jack_with_cards(KOHLS_CARD)
        first = pay(key="retry-me")
        second = pay(key="retry-me")
        assert first[0] == second[0] == 201
        assert second[2]["Idempotent-Replayed"] == "true"
        assert second[1]["id"] == first[1]["id"] and second[1]["allocations"] == first[1]["allocations"]
        assert balance(aws, number) == D("200")
        assert len(items_of_type(aws, "PAYMENT")) == 1
        assert [e["activity_type"] for e in assert_reconciles(aws, number)] == ["ACTIVATE", "REDEEM"]

    def test_the_same_key_with_a_different_body_is_refused(self, aws):
        """Given a payment made with key K, when K is sent with a different basket, then 422 idempotency_key_reused
        and nothing more is debited or recorded."""
        (number,) = jack_with_cards(KOHLS_CARD)
        pay(key="once")
        before = snapshot(aws)
        status, body, _ = pay({**BASKET, "items": [{"product_id": "kohls-dogbed-001", "quantity": 2}]}, key="once")
        assert status == 422
        assert_error(body, "idempotency_key_reused", "Idempotency-Key")
        assert snapshot(aws) == before and balance(aws, number) == D("200")

    def test_keys_belong_to_the_program_so_a_retry_from_another_api_key_is_a_replay(self, aws):
        """Given key K used by one API key of the program, when another API key of the same program sends the
        same request with K (a retry from another instance of the app), then it gets the same payment and
        nothing more is debited: Idempotency-Keys are the program's, per operation."""
        (number,) = jack_with_cards(KOHLS_CARD)
        a = pay(key="shared", key_id="key_merchant_a")
        b = pay(key="shared", key_id="key_merchant_b")
        assert a[0] == b[0] == 201 and a[1]["id"] == b[1]["id"]
        assert b[2]["Idempotent-Replayed"] == "true"
        assert balance(aws, number) == D("200") and len(items_of_type(aws, "PAYMENT")) == 1
        assert stored(aws, "P#default#IDEMPOTENCY#payment#shared", "IDEMPOTENCY")["payment_id"] == a[1]["id"]

    def test_another_programs_key_of_the_same_name_is_its_own(self, aws):
        """Given key K used in the default program, when a key of another program sends K, then it is not a
        replay of the default program's payment: that program has no such user (404), and nothing is debited."""
        (number,) = jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay(key="shared")
        event = api_event("create_payment", body=BASKET)
        event["headers"]["Idempotency-Key"] = "shared"
        event["requestContext"]["authorizer"].update(program_id="acme", key_id="key_acme")
        status, body, _ = call("create_payment", event)
        assert status == 404 and payment["id"] not in repr(body)
        assert balance(aws, number) == D("200") and len(items_of_type(aws, "PAYMENT")) == 1

    def test_a_missing_or_malformed_key_is_refused_before_anything_happens(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        status, body, _ = pay(key=None)
        assert status == 400
        assert_error(body, "bad_request", "Idempotency-Key")
        status, body, _ = pay(key="has spaces")
        assert status == 422
        assert balance(aws, number) == D("250") and not items_of_type(aws, "PAYMENT")

    def test_a_refused_payment_does_not_burn_its_key(self, aws):
        """Given a payment refused for want of funds under key K, when funds are added and K is retried, then the
        payment goes through (the key was never stored)."""
        (number,) = jack_with_cards({"balance": 40})
        assert pay(key="later")[0] == 409
        adjust(number, "LOAD", 20)  # the card's issuer loads it to 60
        status, payment, headers = pay(key="later")
        assert status == 201 and headers["Idempotent-Replayed"] == "false"
        assert balance(aws, number) == D("10")


# --- refunds --------------------------------------------------------------------------------------


class TestRefunds:
    def test_partial_then_full_refund_credit_the_card_and_over_refund_is_refused(self, aws):
        """Given a 50 payment from Jack's card, when 20 is refunded, then the card holds 220 and its ledger has
        a REFUND of +20; when 40 is asked, then 409 and nothing changes; when the rest is asked (no amount), then 30
        is refunded, the card is back to 250 and the payment is refunded; when asked again, then 409."""
        (number,) = jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        status, first, _ = refund(payment["id"], {"amount": "20.00"})
        assert status == 201, first
        assert first["amount"] == D("20") and first["allocations"][0]["balance_after"] == D("220")
        assert balance(aws, number) == D("220")
        stored_payment = stored(aws, f"P#default#PAYMENT#{payment['id']}", "PAYMENT")
        assert stored_payment["refunded_amount"] == D("20") and stored_payment["status"] == "partially_refunded"

        before = snapshot(aws)
        status, body, _ = refund(payment["id"], {"amount": 40})
        assert status == 409
        assert_error(body, "refund_exceeds_payment", "amount")
        assert "30.00" in body["error"]["message"]
        assert snapshot(aws) == before

        status, rest, _ = refund(payment["id"])
        assert status == 201 and rest["amount"] == D("30")
        assert balance(aws, number) == D("250")
        status, fetched, _ = get_payment(payment["id"])
        assert fetched["status"] == "refunded" and fetched["refunded_amount"] == D("50")
        assert [r["amount"] for r in fetched["refunds"]] == [D("20"), D("30")]

        status, body, _ = refund(payment["id"], {"amount": "0.01"})
        assert status == 409 and body["error"]["code"] == "refund_exceeds_payment"
        entries = assert_reconciles(aws, number)
        assert [(e["activity_type"], e["amount"]) for e in entries] == [
            ("ACTIVATE", D("250")), ("REDEEM", D("-50")), ("REFUND", D("20")), ("REFUND", D("30"))]
        assert all(e.get("reference") == payment["id"] for e in entries[1:])

    def test_refunds_go_back_to_the_same_cards_last_debited_first(self, aws):
        """Given a payment split 30 / 70 over two cards, when 80 is refunded, then the second card gets its 70
        back and the first 10, and neither can receive more than it paid."""
        soon, later = jack_with_cards({"card_id": "soon", "balance": 30, "expiry_date": "2027-01-01"},
                                      {"card_id": "later", "balance": 250})
        _, payment, _ = pay({**BASKET, "items": [{"product_id": "kohls-dogbed-001", "quantity": 2}]})
        status, body, _ = refund(payment["id"], {"amount": 80})
        assert status == 201
        assert [(a["card_id"], a["amount"]) for a in body["allocations"]] == [("later", D("70")), ("soon", D("10"))]
        assert (balance(aws, soon), balance(aws, later)) == (D("10"), D("250"))
        status, body, _ = refund(payment["id"])
        assert status == 201 and [(a["card_id"], a["amount"]) for a in body["allocations"]] == [("soon", D("20"))]
        assert (balance(aws, soon), balance(aws, later)) == (D("30"), D("250"))

    def test_a_refund_to_an_expired_or_blocked_card_is_allowed(self, aws):
        """Given a payment, when the card then expires and is blocked, then a refund still credits it."""
        (number,) = jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        patch_card(number, expiry_date="2020-01-01", state="BLOCKED")
        status, body, _ = refund(payment["id"])
        assert status == 201, body
        assert balance(aws, number) == D("250")
        assert_reconciles(aws, number)

    def test_refund_idempotency_key_replays_the_same_refund(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        first = refund(payment["id"], {"amount": 5}, key="refund-1")
        second = refund(payment["id"], {"amount": 5}, key="refund-1")
        assert first[0] == second[0] == 201 and first[1]["id"] == second[1]["id"]
        assert second[2]["Idempotent-Replayed"] == "true"
        assert balance(aws, number) == D("205")
        assert refund(payment["id"], {"amount": 6}, key="refund-1")[0] == 422

    def test_a_refund_without_an_idempotency_key_is_400_naming_the_header_and_credits_nothing(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        before = snapshot(aws)
        for key in (None, ""):
            status, body, _ = refund(payment["id"], {"amount": 5}, key=key)
            assert status == 400
            assert_error(body, "bad_request", "Idempotency-Key")
            assert "Idempotency-Key" in body["error"]["message"]
        assert snapshot(aws) == before and balance(aws, number) == D("200")

    def test_unknown_payment_and_bad_amounts(self, aws):
        jack_with_cards(KOHLS_CARD)
        _, payment, _ = pay()
        assert refund("pay_000000000000000000000000")[0] == 404
        for amount in (0, "-1", "1.001", True):
            status, body, _ = refund(payment["id"], {"amount": amount})
            assert status == 422 and body["error"]["fields"][0]["field"] == "amount", amount


# --- the ledger -----------------------------------------------------------------------------------


class TestLedger:
    def test_the_ledger_reconciles_after_every_kind_of_change(self, aws):
        """Given a card registered with 100, when it pays, is adjusted up and down through its activities, is
        refunded and pays again, then after each step the balance equals the sum of its ledger, and the ledger
        lists each change in order with its type. A PATCH or PUT that sends another balance changes nothing;
        one that sends the stored balance changes the rest and writes no entry."""
        (number,) = jack_with_cards({"balance": 100}, products=(DOG_BED, TREAT))
        treat = {**BASKET, "items": [{"product_id": "kohls-treat-007", "quantity": 3}]}
        _, first, _ = pay(treat, key="k1")
        assert_reconciles(aws, number)
        before = snapshot(aws)
        status, body, _ = call("update_gift_card", api_event("update_gift_card", body={"balance": "90.50"},
                                                             path_id=number))
        assert status == 422 and body["error"]["fields"][0]["type"] == "balance_not_settable", body
        assert f"/gift_cards/{number}/activities" in body["error"]["message"]
        assert snapshot(aws) == before
        assert adjust(number, "ADJUST_INCREMENT", "11.50")["balance"] == D("90.50")
        assert_reconciles(aws, number)
        patch_card(number, state="BLOCKED")  # not a balance change: no entry
        patch_card(number, state="ACTIVE", balance="90.50")  # the stored balance, sent back: accepted
        put = api_event("replace_gift_card", path_id=number, body={**KOHLS_CARD, "balance": "80.25"})
        status, body, _ = call("replace_gift_card", put)
        assert status == 422 and body["error"]["fields"][0]["field"] == "balance"
        assert adjust(number, "ADJUST_DECREMENT", "10.25")["balance"] == D("80.25")
        status, body, _ = call("replace_gift_card", put)  # now the stored balance: accepted, no entry
        assert status == 200 and body["balance"] == D("80.25") and body["state"] == "ACTIVE", body
        refund(first["id"], {"amount": "1.50"})
        _, second, _ = pay(treat, key="k2")
        entries = assert_reconciles(aws, number)
        assert [(e["activity_type"], e["amount"]) for e in entries] == [
            ("ACTIVATE", D("100")), ("REDEEM", D("-21")), ("ADJUST_INCREMENT", D("11.50")),
            ("ADJUST_DECREMENT", D("-10.25")), ("REFUND", D("1.50")), ("REDEEM", D("-21"))]
        assert balance(aws, number) == D("60.75")

    def test_activities_are_listed_oldest_first_in_pages_with_a_link_header(self, aws):
        """Given a card with five ledger entries, when listed two at a time following the Link header, then all
        five come back oldest first, with the same shapes as stored."""
        (number,) = jack_with_cards({"balance": 100}, products=(DOG_BED, TREAT))
        for i in range(4):
            pay({**BASKET, "items": [{"product_id": "kohls-treat-007"}]}, key=f"k{i}")
        seen, query = [], {"limit": "2"}
        for _ in range(5):
            status, page, headers = activities(number, query)
            assert status == 200 and isinstance(page, list) and len(page) <= 2
            seen += page
            if "Link" not in headers:
                break
            assert headers["Link"].endswith('>; rel="next"')
            from urllib.parse import parse_qs, urlparse

            query = {k: v[0] for k, v in parse_qs(urlparse(headers["Link"][1:].split(">")[0]).query).items()}
        assert [a["type"] for a in seen] == ["ACTIVATE"] + ["REDEEM"] * 4
        assert [a["balance_after"] for a in seen] == [D("100"), D("93"), D("86"), D("79"), D("72")]
        assert all(a["gift_card_id"] == number and a["card_id"] == "kohls-gc-001" for a in seen)
        status, redeems, _ = activities(number, {"type": "REDEEM"})
        assert status == 200 and len(redeems) == 4

    def test_listing_errors(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        assert activities(999)[0] == 404
        assert activities(number, {"cursor": "bm90LWEtY3Vyc29y"})[0] == 400
        assert activities(number, {"type": "STEAL"})[0] == 422
        assert activities(number, {"balance": "1"})[0] == 400
        assert activities(number, scopes="checkout")[0] == 403


# --- routing and samples --------------------------------------------------------------------------


class TestRoutes:
    @pytest.mark.parametrize("resource, method, allowed", [
        ("/checkout/quote", "GET", "POST"), ("/payments", "GET", "POST"), ("/payments/{id}", "DELETE", "GET"),
        ("/payments/{id}/refunds", "GET", "POST"), ("/gift_cards/{id}/activities", "DELETE", "GET,POST")])
    def test_a_wrong_method_is_405_with_allow(self, aws, resource, method, allowed):
        event = load_event("route_fallback")
        event.update({"resource": resource, "path": resource.replace("{id}", "1"), "httpMethod": method})
        event["requestContext"].update({"resourcePath": resource, "httpMethod": method})
        status, body, headers = call("route_fallback", event)
        assert status == 405 and headers["Allow"] == allowed

    def test_the_sample_events_run_against_the_seeded_wallet(self, aws):
        """Given the seed's wallet, when the checkout sample events in events/ are invoked, then quote, payment
        and ledger succeed, and refund and get succeed once pointed at the payment made."""
        (number,) = jack_with_cards(KOHLS_CARD)
        assert call("checkout_quote", load_event("checkout_quote"))[0] == 200
        status, payment, _ = call("create_payment", load_event("create_payment"))
        assert status == 201
        assert call("get_payment", api_event("get_payment", path_id=payment["id"]))[0] == 200
        assert call("create_refund", api_event("create_refund", path_id=payment["id"]))[0] == 201
        assert call("list_gift_card_activities", api_event("list_gift_card_activities", path_id=number))[0] == 200


# --- concurrency ----------------------------------------------------------------------------------


class TestConcurrency:
    @pytest.fixture
    def atomic_requests(self, monkeypatch):
        """moto in process does not serialise concurrent requests: two threads inside one
        TransactWriteItems corrupt its state (seen: 'dictionary changed size during iteration'). DynamoDB
        applies each request atomically, so each moto request gets the same here, under one lock, as the
        local stack does around moto's server. The race under test is between requests: read, plan, then
        a conditional transaction."""
        from moto.dynamodb.responses import DynamoHandler

        lock, original = threading.Lock(), DynamoHandler.call_action

        def atomic(handler, *args, **kwargs):
            with lock:
                return original(handler, *args, **kwargs)

        monkeypatch.setattr(DynamoHandler, "call_action", atomic)

    def test_thirty_parallel_payments_of_7_on_100_give_14_successes_and_leave_2(self, aws, atomic_requests,
                                                                                monkeypatch):
        """Given one 100.00 card and a 7.00 item, when 30 threads pay at once (each its own Idempotency-Key),
        then exactly 14 succeed, the others are refused for want of funds, the card holds 2.00, and its
        ledger has 14 REDEEM entries and reconciles.

        The threads call the payment use case directly: a Powertools resolver keeps the current event on
        the app object, so one handler module cannot serve two threads at once. In-process moto behind one
        lock commits a transaction in tens to hundreds of milliseconds on a busy machine (DynamoDB: a few),
        so the 14 serialised winners can outlast the 6 s retry budget sized for Lambda's timeout; that
        budget is widened here, since what this test proves is the arithmetic under contention, not speed
        (a loser that spent the budget answers 409 and charges nothing: tested with the budget below)."""
        from flexigift.errors import Conflict
        from flexigift.logic import retries
        from flexigift.logic.pay import create_payment

        monkeypatch.setattr(retries, "RETRY_SECONDS", 120.0)
        from flexigift.models.checkout import PaymentCreate

        (number,) = jack_with_cards({"balance": 100}, products=(TREAT,))
        body = PaymentCreate(user_id="user006", items=[{"product_id": "kohls-treat-007"}])
        outcomes: list[str] = []
        lock, start = threading.Lock(), threading.Barrier(30)

        def attempt(i: int) -> None:
            start.wait()
            try:
                create_payment(body, f"race-{i}", "key_sample", "default")
                outcome = "ok"
            except Conflict as refused:
                outcome = refused.code
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcomes) == 30
        assert outcomes.count("ok") == 14, sorted(outcomes)
        assert outcomes.count("insufficient_funds") == 16
        assert balance(aws, number) == D("2")
        entries = assert_reconciles(aws, number)
        assert [e["activity_type"] for e in entries].count("REDEEM") == 14
        assert len(items_of_type(aws, "PAYMENT")) == 14
