"""Checkout's promises under concurrency, over HTTP against the local stack: no overdraft, no double
charge, a ledger that adds up. moto's server behind the stack applies one request at a time, as
DynamoDB applies each request atomically; the races here are between requests, as in production."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e
# The local stack and its fixtures (tests/e2e/conftest.py) are built alongside: skip, not fail, without them.
_e2e = pytest.importorskip("tests.e2e.conftest", reason="the local stack's e2e fixtures are not in this checkout")
LocalStack, assert_error_shape = _e2e.LocalStack, _e2e.assert_error_shape
D = Decimal


def _json(response: requests.Response) -> Any:
    return response.json(parse_float=Decimal)


def _post(http: requests.Session, stack: LocalStack, path: str, body: dict, **headers: str) -> requests.Response:
    """POST; a request whose connection is refused or reset is sent again, as a client holding an
    Idempotency-Key should: the key makes the resend harmless even if the first one was processed.
    (50 connections at once can overflow a small listen backlog on the local gateway.)"""
    for resend in range(5):
        try:
            return http.post(stack.url(path), json=body, headers={**stack.headers(), **headers}, timeout=60)
        except requests.ConnectionError:
            if resend == 4 or "Idempotency-Key" not in headers:
                raise
            time.sleep(0.05 * (resend + 1))
    raise AssertionError("unreachable")


def wallet_with_one_card(http: requests.Session, stack: LocalStack, balance: int, price: str) -> tuple[str, int, str]:
    """A new user with one linked card holding `balance`, and a product of that issuer at `price`.
    Returns (user_id, the card's numeric id, product_id). Names are unique: the stack is shared."""
    tag = uuid.uuid4().hex[:10]
    user = {"user_id": f"race-{tag}", "amazon_id": f"amz-{tag}", "name": "Race Test",
            "email": f"race-{tag}@example.com"}
    issuer = f"Issuer{tag}"
    created = _post(http, stack, "/users", user)
    assert created.status_code == 201, created.text
    card = _post(http, stack, "/gift_cards", {"card_id": f"card-{tag}", "user_id": user["user_id"], "issuer": issuer,
                                              "balance": balance, "expiry_date": "2035-12-31"})
    assert card.status_code == 201, card.text
    linked = http.put(stack.url(f"/users/{created.json()['id']}"), json={**user, "gift_cards": [f"card-{tag}"]},
                      headers=stack.headers(), timeout=30)
    assert linked.status_code == 200, linked.text
    product = _post(http, stack, "/products", {"product_id": f"item-{tag}", "name": "Seven", "price": price,
                                               "eligible_issuer": issuer})
    assert product.status_code == 201, product.text
    return user["user_id"], card.json()["id"], f"item-{tag}"


def card_balance(http: requests.Session, stack: LocalStack, number: int) -> Decimal:
    response = http.get(stack.url(f"/gift_cards/{number}"), headers=stack.headers(), timeout=30)
    assert response.status_code == 200, response.text
    return D(str(_json(response)["balance"]))


def ledger(http: requests.Session, stack: LocalStack, number: int) -> list[dict]:
    """Every ledger entry, following the Link header page by page."""
    entries, url = [], stack.url(f"/gift_cards/{number}/activities?limit=20")
    for _ in range(100):
        response = http.get(url, headers=stack.headers(), timeout=30)
        assert response.status_code == 200, response.text
        entries += _json(response)
        if "next" not in response.links:
            return entries
        url = response.links["next"]["url"]
    raise AssertionError("the ledger's pages never ended")


def assert_reconciles(entries: list[dict], balance: Decimal) -> None:
    running = D(0)
    for entry in entries:
        running += D(str(entry["amount"]))
        assert D(str(entry["balance_after"])) == running, entry
    assert running == balance


class TestRace:
    def test_fifty_parallel_payments_of_7_on_100_give_14_successes_and_leave_2(self, stack: LocalStack,
                                                                              http: requests.Session):
        """Given one card holding 100.00 and an item at 7.00, when 50 payments are sent at once (each with its
        own Idempotency-Key), then exactly 14 are captured, the other 36 are 409 insufficient_funds, the card
        holds 2.00, its ledger has 14 REDEEM entries and reconciles with the balance."""
        user_id, number, product_id = wallet_with_one_card(http, stack, 100, "7.00")
        body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}

        def pay(i: int) -> requests.Response:
            with requests.Session() as own:  # one connection per caller, as 50 shoppers would have
                return _post(own, stack, "/payments", body, **{"Idempotency-Key": f"race-{uuid.uuid4()}-{i}"})

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(pay, range(50)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(201) == 14, [(r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
        for refused in (r for r in responses if r.status_code != 201):
            assert refused.status_code == 409
            assert_error_shape(refused.json(), "insufficient_funds")
        captured = [_json(r) for r in responses if r.status_code == 201]
        assert len({p["id"] for p in captured}) == 14
        assert sorted(D(str(p["allocations"][0]["balance_after"])) for p in captured) == [
            D(100 - 7 * n) for n in range(14, 0, -1)]  # each balance_after once: 93, 86, ..., 2

        assert card_balance(http, stack, number) == D("2")
        entries = ledger(http, stack, number)
        assert [e["type"] for e in entries] == ["ACTIVATE"] + ["REDEEM"] * 14
        assert {e["reference"] for e in entries[1:]} == {p["id"] for p in captured}
        assert_reconciles(entries, D("2"))

    def test_retrying_with_the_same_idempotency_key_debits_once(self, stack: LocalStack, http: requests.Session):
        """Given a card holding 100.00, when one payment of 7.00 is sent, then resent with the same key, and then
        sent 10 more times at once with that key, then every answer is the same payment, the card was debited
        once (93.00), and the ledger has a single REDEEM."""
        user_id, number, product_id = wallet_with_one_card(http, stack, 100, "7.00")
        body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
        key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
        first = _post(http, stack, "/payments", body, **key)
        assert first.status_code == 201, first.text
        assert first.headers["Idempotent-Replayed"] == "false"
        again = _post(http, stack, "/payments", body, **key)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]

        def retry(_: int) -> requests.Response:
            with requests.Session() as own:
                return _post(own, stack, "/payments", body, **key)

        with ThreadPoolExecutor(max_workers=10) as pool:
            retries = list(pool.map(retry, range(10)))
        assert {(r.status_code, r.json()["id"]) for r in retries} == {(201, first.json()["id"])}

        different = _post(http, stack, "/payments", {**body, "allow_remainder": True}, **key)
        assert different.status_code == 422
        assert_error_shape(different.json(), "idempotency_key_reused")

        assert card_balance(http, stack, number) == D("93")
        entries = ledger(http, stack, number)
        assert [e["type"] for e in entries] == ["ACTIVATE", "REDEEM"]
        assert_reconciles(entries, D("93"))

    def test_parallel_first_requests_with_one_key_make_one_payment(self, stack: LocalStack, http: requests.Session):
        """Given a new key, when 8 identical payments race with it before any has been recorded, then one
        payment is made and all 8 answers carry its id."""
        user_id, number, product_id = wallet_with_one_card(http, stack, 100, "7.00")
        body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
        key = {"Idempotency-Key": f"first-{uuid.uuid4()}"}

        def pay(_: int) -> requests.Response:
            with requests.Session() as own:
                return _post(own, stack, "/payments", body, **key)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(pay, range(8)))
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert [r.headers["Idempotent-Replayed"] for r in responses].count("false") == 1
        assert card_balance(http, stack, number) == D("93")

    def test_parallel_refunds_never_exceed_the_payment(self, stack: LocalStack, http: requests.Session):
        """Given a captured payment of 49.00 (7 x 7.00), when 20 refunds of 5.00 race, then exactly 9 succeed
        (45.00), the rest are 409, and the card and ledger agree."""
        user_id, number, product_id = wallet_with_one_card(http, stack, 100, "7.00")
        paid = _post(http, stack, "/payments", {"user_id": user_id, "items": [{"product_id": product_id,
                                                                                "quantity": 7}]},
                     **{"Idempotency-Key": f"refund-{uuid.uuid4()}"})
        assert paid.status_code == 201, paid.text
        payment_id = paid.json()["id"]

        def refund(_: int) -> requests.Response:
            with requests.Session() as own:
                return _post(own, stack, f"/payments/{payment_id}/refunds", {"amount": "5.00"},
                             **{"Idempotency-Key": f"refund-{uuid.uuid4()}"})

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(refund, range(20)))
        assert sorted(r.status_code for r in responses) == [201] * 9 + [409] * 11, [r.text for r in responses]
        fetched = http.get(stack.url(f"/payments/{payment_id}"), headers=stack.headers(), timeout=30).json()
        assert D(str(fetched["refunded_amount"])) == D("45") and len(fetched["refunds"]) == 9
        assert card_balance(http, stack, number) == D("96")
        assert_reconciles(ledger(http, stack, number), D("96"))
