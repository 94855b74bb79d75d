"""Checkout as a merchant runs it, through the handlers against moto: the shopper by Amazon account,
authorize (holds), capture (whole or in part), void, the expiry sweep, refunds of the captured part, and the
races between them. Each test checks what is stored: balances, `held`, the ledger, the payment's status."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tests.integration import test_checkout as checkout_tests
from tests.integration.conftest import TABLE, stored
from tests.integration.test_checkout import (
    BASKET,
    DOG_BED,
    KOHLS_CARD,
    TREAT,
    assert_reconciles,
    jack_with_cards,
    pay,
    refund,
    snapshot,
)
from tests.support import api_event, call, load_event

D = Decimal
BY_AMAZON = {"amazon_id": "amz3456", "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]}


def authorize(body: dict = BY_AMAZON, key: str | None = None, **extra: Any):
    return pay({**body, "capture": False, **extra}, key=key or str(uuid.uuid4()))


def capture(payment_id: str, body: dict | None = None, key: str | None = None):
    event = api_event("capture_payment", body=body if body is not None else {}, path_id=payment_id)
    event["headers"]["Idempotency-Key"] = key or str(uuid.uuid4())
    return call("capture_payment", event)


def void(payment_id: str, key: str | None = None):
    event = api_event("void_payment", path_id=payment_id)
    event["headers"]["Idempotency-Key"] = key or str(uuid.uuid4())
    return call("void_payment", event)


def card(aws, number: int) -> dict:
    return stored(aws, f"P#default#CARD#{number}", "CARD")


def payment_item(aws, payment_id: str) -> dict:
    return stored(aws, f"P#default#PAYMENT#{payment_id}", "PAYMENT")


def assert_held_is_open_holds(aws, number: int) -> None:
    """`held` is the sum of the card's open holds: HOLD entries less what CAPTURE and RELEASE closed."""
    from tests.integration.test_checkout import ledger

    open_holds = D(0)
    for entry in ledger(aws, number):
        if entry["activity_type"] == "HOLD":
            open_holds += entry["hold_amount"]
        elif entry["activity_type"] in ("CAPTURE", "RELEASE"):
            open_holds -= entry["hold_amount"]
        if entry.get("held_after") is not None:
            assert entry["held_after"] == open_holds, entry
    assert D(card(aws, number).get("held") or 0) == open_holds


def expire_now(aws, payment_id: str) -> None:
    """Move an authorization's expiry into the past, index partition included (as if its time had come)."""
    from flexigift.store import authorizations

    past = datetime.now(timezone.utc) - timedelta(minutes=2)
    index = authorizations.expiry_index("default", payment_id, past)
    aws.update_item(TableName=TABLE, Key={"PK": {"S": f"P#default#PAYMENT#{payment_id}"}, "SK": {"S": "PAYMENT"}},
                    UpdateExpression="SET hold_expires_epoch = :e, hold_expires_at = :at, GSI1PK = :pk, GSI1SK = :sk",
                    ExpressionAttributeValues={":e": {"N": str(int(past.timestamp()))},
                                               ":at": {"S": past.isoformat()}, ":pk": {"S": index["GSI1PK"]},
                                               ":sk": {"S": index["GSI1SK"]}})
    # a real hold expires at least 30 s after it is placed, never behind the sweep's position (the current
    # minute at most); this one is moved 2 minutes back, so the sweep starts afresh (an hour back) to find it
    aws.delete_item(TableName=TABLE, Key={"PK": {"S": "SWEEP#authorizations"}, "SK": {"S": "SWEEP"}})


def sweep() -> dict:
    from tests.support import FakeContext, handler

    return handler("expire_authorizations")(load_event("expire_authorizations"), FakeContext())


class TestTheShopperByAmazonAccount:
    def test_quote_and_payment_by_amazon_id_name_both_ids(self, aws):
        """Given Jack's wallet, when the merchant quotes and pays naming his Amazon account, then the answers
        name user_id and amazon_id, and the card is debited as by user_id."""
        (number,) = jack_with_cards(KOHLS_CARD)
        status, quoted, _ = call("checkout_quote", api_event("checkout_quote", body=BY_AMAZON))
        assert status == 200 and quoted["user_id"] == "user006" and quoted["amazon_id"] == "amz3456", quoted
        status, paid, _ = pay(BY_AMAZON, key="amz-pay-1")
        assert status == 201 and paid["status"] == "captured", paid
        assert paid["user_id"] == "user006" and paid["amazon_id"] == "amz3456"
        assert card(aws, number)["balance"] == D(200)
        status, by_user, _ = call("checkout_quote", api_event("checkout_quote", body=BASKET))
        assert by_user["amazon_id"] == "amz3456"

    @pytest.mark.parametrize("body", [{"items": BASKET["items"]}, {**BASKET, "amazon_id": "amz3456"}])
    def test_neither_or_both_ids_is_422(self, aws, body):
        jack_with_cards(KOHLS_CARD)
        status, answer, _ = pay(body, key="k-both")
        assert status == 422 and "amazon_id" in answer["error"]["fields"][0]["message"], answer

    def test_an_unknown_amazon_account_is_404_naming_it(self, aws):
        jack_with_cards(KOHLS_CARD)
        status, answer, _ = call("checkout_quote", api_event("checkout_quote", body={**BY_AMAZON, "amazon_id": "amz0"}))
        assert status == 404 and answer["error"]["fields"][0]["field"] == "amazon_id"

    def test_amazon_id_is_unique_per_program_and_follows_renames_and_deletes(self, aws):
        """Given Jack, when another user takes his amazon_id, then 409; when Jack's amazon_id changes, the
        old one is free and the new one finds him; when he is deleted, it is free again."""
        from tests.integration.test_checkout import JACK

        status, jack, _ = call("create_user", api_event("create_user", body=JACK))
        assert status == 201
        jill = {**JACK, "user_id": "user007", "email": "jill@example.com"}
        status, answer, _ = call("create_user", api_event("create_user", body=jill))
        assert status == 409 and answer["error"]["fields"][0]["field"] == "amazon_id"
        assert stored(aws, "P#default#UNIQUE#USER#user007", "UNIQUE") is None
        status, _, _ = call("update_user", api_event("update_user", body={"amazon_id": "amz9999"}, path_id=jack["id"]))
        assert status == 200
        assert stored(aws, "P#default#UNIQUE#AMAZON#amz3456", "UNIQUE") is None
        assert stored(aws, "P#default#UNIQUE#AMAZON#amz9999", "UNIQUE")["ref_id"] == jack["id"]
        assert stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")["amazon_id"] == "amz9999"
        status, _, _ = call("create_user", api_event("create_user", body=jill))
        assert status == 201
        status, _, _ = call("delete_user", api_event("delete_user", path_id=jack["id"]))
        assert status == 204 and stored(aws, "P#default#UNIQUE#AMAZON#amz9999", "UNIQUE") is None


class TestAuthorizeThenCapture:
    def test_an_authorization_holds_the_amount_and_a_partial_capture_gives_the_rest_back(self, aws):
        """Given 250 on Jack's card, when 2 dog beds (100) are authorized, then the balance is 150 at once, held
        100, a HOLD entry -100; when 60 is captured, then 40 comes back (RELEASE), held 0, refundable 60, the
        payment captured with amount 60; a refund applies to the captured 60 only."""
        (number,) = jack_with_cards(KOHLS_CARD)
        status, auth, _ = authorize({**BY_AMAZON, "items": [{"product_id": "kohls-dogbed-001", "quantity": 2}]},
                                    hold_seconds=3600)
        assert status == 201 and auth["status"] == "authorized", auth
        assert auth["allocations"] == [{"card_id": "kohls-gc-001", "gift_card_id": number, "amount": 100,
                                        "balance_after": 150}]
        assert auth["expires_at"] and auth["authorized_amount"] == 100
        assert card(aws, number)["balance"] == D(150) and card(aws, number)["held"] == D(100)
        status, shown, _ = call("get_gift_card", api_event("get_gift_card", path_id=number))
        assert shown["balance"] == 150 and shown["held"] == 100
        status, captured, _ = capture(auth["id"], {"amount": 60}, key="cap-1")
        assert status == 200 and captured["status"] == "captured", captured
        assert captured["amount"] == 60 and captured["captured_amount"] == 60 and captured["released_amount"] == 40
        assert captured["allocations"] == [{"card_id": "kohls-gc-001", "gift_card_id": number, "amount": 60,
                                            "balance_after": 190}]
        stored_card = card(aws, number)
        assert stored_card["balance"] == D(190) and stored_card["held"] == D(0) and stored_card["refundable"] == D(60)
        entries = assert_reconciles(aws, number)
        assert [(e["activity_type"], e["amount"]) for e in entries] == [
            ("ACTIVATE", 250), ("HOLD", -100), ("CAPTURE", 0), ("RELEASE", 40)]
        assert_held_is_open_holds(aws, number)
        status, answer, _ = refund(auth["id"], {"amount": 61})
        assert status == 409 and answer["error"]["code"] == "refund_exceeds_payment"
        status, refunded, _ = refund(auth["id"], {})
        assert status == 201 and refunded["amount"] == 60
        assert card(aws, number)["balance"] == D(250) and card(aws, number)["refundable"] == D(0)
        assert_reconciles(aws, number)

    def test_a_second_capture_is_409_and_a_replay_answers_the_first(self, aws):
        jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        assert capture(auth["id"], key="cap-a")[0] == 200
        status, replay, headers = capture(auth["id"], key="cap-a")
        assert status == 200 and headers["Idempotent-Replayed"] == "true" and replay["status"] == "captured"
        status, answer, _ = capture(auth["id"], key="cap-b")
        assert status == 409 and answer["error"]["code"] == "payment_not_authorized"
        status, answer, _ = void(auth["id"])
        assert status == 409 and answer["error"]["code"] == "payment_not_authorized"

    def test_capture_more_than_authorized_is_409_and_changes_nothing(self, aws):
        jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        before = snapshot(aws)
        status, answer, _ = capture(auth["id"], {"amount": 51})
        assert status == 409 and answer["error"]["code"] == "capture_exceeds_authorization"
        assert snapshot(aws) == before

    def test_an_authorization_cannot_be_refunded_and_capture_needs_a_key(self, aws):
        jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        status, answer, _ = refund(auth["id"], {})
        assert status == 409 and "capture it first" in answer["error"]["message"]
        event = api_event("capture_payment", body={}, path_id=auth["id"])
        event["headers"].pop("Idempotency-Key")
        assert call("capture_payment", event)[0] == 400

    def test_hold_seconds_is_bounded_and_only_for_authorizations(self, aws):
        jack_with_cards(KOHLS_CARD)
        assert authorize(hold_seconds=29)[0] == 422
        assert authorize(hold_seconds=30 * 86400 + 1)[0] == 422
        assert pay({**BY_AMAZON, "hold_seconds": 60}, key="k-hs")[0] == 422
        status, auth, _ = authorize()
        expires = datetime.fromisoformat(auth["expires_at"].replace("Z", "+00:00"))
        assert abs((expires - datetime.now(timezone.utc)) - timedelta(days=7)) < timedelta(minutes=1)

    def test_the_held_amount_cannot_be_spent_by_another_payment(self, aws):
        (number,) = jack_with_cards({"balance": 60}, products=(DOG_BED,))
        assert authorize()[0] == 201
        status, answer, _ = pay(BASKET, key="k-other")
        assert status == 409 and answer["error"]["code"] == "insufficient_funds"
        assert card(aws, number)["balance"] == D(10)


class TestVoidAndExpiry:
    def test_a_void_releases_every_hold_once(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        status, voided, _ = void(auth["id"], key="void-1")
        assert status == 200 and voided["status"] == "voided" and voided["released_amount"] == 50
        assert voided["amount"] == 0 and voided["allocations"] == []
        assert card(aws, number)["balance"] == D(250) and card(aws, number)["held"] == D(0)
        assert [e["activity_type"] for e in assert_reconciles(aws, number)] == ["ACTIVATE", "HOLD", "RELEASE"]
        assert void(auth["id"], key="void-1")[2]["Idempotent-Replayed"] == "true"
        assert void(auth["id"])[0] == 409 and capture(auth["id"])[0] == 409
        assert "GSI1PK" not in payment_item(aws, auth["id"])

    def test_the_sweep_releases_an_expired_authorization_and_capture_is_then_authorization_expired(self, aws):
        """Given an authorization whose expiry has passed, when capture is asked first, then 409
        authorization_expired and nothing changes; when the sweep runs, then the holds come back (RELEASE),
        the payment is expired and leaves the index; a second sweep finds nothing."""
        (number,) = jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize(hold_seconds=30)
        _, kept, _ = authorize({**BY_AMAZON, "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]})
        expire_now(aws, auth["id"])
        before = snapshot(aws)
        status, answer, _ = capture(auth["id"])
        assert status == 409 and answer["error"]["code"] == "authorization_expired"
        assert snapshot(aws) == before
        report = sweep()
        assert report["expired"] == 1 and report["failed"] == 0, report
        item = payment_item(aws, auth["id"])
        assert item["status"] == "expired" and "GSI1PK" not in item and item["released_amount"] == D(50)
        assert payment_item(aws, kept["id"])["status"] == "authorized"
        assert card(aws, number)["balance"] == D(200) and card(aws, number)["held"] == D(50)
        assert_reconciles(aws, number)
        assert_held_is_open_holds(aws, number)
        assert sweep()["expired"] == 0
        assert stored(aws, f"P#default#IDEMPOTENCY#expire_authorization#{auth['id']}", "IDEMPOTENCY")
        status, answer, _ = capture(auth["id"])
        assert status == 409 and answer["error"]["code"] == "authorization_expired"
        assert void(auth["id"])[1]["error"]["code"] == "payment_not_authorized"

    def test_a_void_after_expiry_and_before_the_sweep_releases_once(self, aws):
        (number,) = jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        expire_now(aws, auth["id"])
        assert void(auth["id"])[0] == 200
        assert sweep()["expired"] == 0
        assert card(aws, number)["balance"] == D(250)
        assert [e["activity_type"] for e in assert_reconciles(aws, number)].count("RELEASE") == 1

    def test_the_sweep_keeps_its_position_and_catches_up(self, aws):
        from flexigift.logic import expire_authorizations as expiry

        jack_with_cards(KOHLS_CARD)
        _, auth, _ = authorize()
        expire_now(aws, auth["id"])
        position = stored(aws, "SWEEP#authorizations", "SWEEP")
        assert position is None
        now = datetime.now(timezone.utc)  # one clock reading: a second one could fall in the next minute
        report = expiry.sweep(now)
        assert report.expired == 1 and report.minutes == 61
        assert stored(aws, "SWEEP#authorizations", "SWEEP")["next_minute"] == report.next_minute
        later = expiry.sweep(now + timedelta(minutes=5))
        assert later.minutes == 6

    def test_a_card_with_an_open_hold_cannot_be_deleted(self, aws):
        (number,) = jack_with_cards({"balance": 50})
        authorize()
        status, answer, _ = call("delete_gift_card", api_event("delete_gift_card", path_id=number))
        assert status == 409 and "hold" in answer["error"]["message"]


class TestRaces:
    atomic_requests = checkout_tests.TestConcurrency.atomic_requests   # moto in process, one request at a time (as DynamoDB)

    def test_of_20_concurrent_captures_and_voids_exactly_one_wins(self, aws, atomic_requests, monkeypatch):
        """Given one authorization on two cards, when 10 captures and 10 voids race (each its own key), then
        exactly one succeeds, the others are 409, and the cards show either a capture or a release, never
        both."""
        from flexigift.api import Caller
        from flexigift.errors import Conflict
        from flexigift.logic import retries
        from flexigift.logic.capture import capture_payment
        from flexigift.logic.void import void_payment
        from flexigift.models.checkout import CaptureRequest

        monkeypatch.setattr(retries, "RETRY_SECONDS", 60.0)
        numbers = jack_with_cards({"balance": 30}, {"card_id": "kohls-gc-002", "balance": 40})
        _, auth, _ = authorize()
        who = Caller(key_id="key_sample", scopes=frozenset({"checkout"}), program_id="default")
        outcomes: list[str] = []
        lock, start = threading.Lock(), threading.Barrier(20)

        def attempt(i: int) -> None:
            start.wait()
            try:
                if i % 2:
                    capture_payment(who, auth["id"], CaptureRequest(), f"race-cap-{i}")
                    outcome = "captured"
                else:
                    void_payment(who, auth["id"], f"race-void-{i}")
                    outcome = "voided"
            except Conflict as refused:
                outcome = refused.code
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [o for o in outcomes if o in ("captured", "voided")]
        assert len(winners) == 1 and outcomes.count("payment_not_authorized") == 19, sorted(outcomes)
        kinds = set()
        for number in numbers:
            entries = assert_reconciles(aws, number)
            assert_held_is_open_holds(aws, number)
            kinds |= {e["activity_type"] for e in entries if e["activity_type"] in ("CAPTURE", "RELEASE")}
        assert kinds == ({"CAPTURE"} if winners == ["captured"] else {"RELEASE"})
        assert payment_item(aws, auth["id"])["status"] == winners[0]


def test_treats_paid_partly_from_two_cards_capture_takes_holds_in_order(aws):
    """Given two cards holding 3 treats (21 = 15 + 6), when 18 is captured, then the first card's 15 is
    captured whole and 3 of the second's 6, whose other 3 come back."""
    numbers = jack_with_cards({"balance": 15, "expiry_date": "2029-01-31"}, {"card_id": "kohls-gc-002", "balance": 40},
                              products=(TREAT,))
    _, auth, _ = authorize({"user_id": "user006", "items": [{"product_id": "kohls-treat-007", "quantity": 3}]})
    assert [a["amount"] for a in auth["allocations"]] == [15, 6]
    status, captured, _ = capture(auth["id"], {"amount": 18})
    assert status == 200 and [a["amount"] for a in captured["allocations"]] == [15, 3]
    assert card(aws, numbers[0])["balance"] == D(0) and card(aws, numbers[1])["balance"] == D(37)
    for number in numbers:
        assert_reconciles(aws, number)
        assert_held_is_open_holds(aws, number)
