"""Checkout as a merchant runs it, over HTTP against the local stack: quote and pay by Amazon account;
authorize, capture part (the rest back on the card), refund the captured part; authorize then void; a 30-second
hold released by the stack's every-minute sweep (template.yaml's schedule, run by the local stack) within 2.5
minutes, after which capture is 409 authorization_expired; 20 concurrent captures and voids of one
authorization with exactly one success; a reward paid into the wallet buys a Lowe's product. After all of it,
every card's ledger sums to its balance and `held` to its open holds."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalStack, assert_error_shape

pytestmark = pytest.mark.e2e
D = Decimal


def _json(response: requests.Response) -> Any:
    return response.json(parse_float=Decimal)


def call(http: requests.Session, stack: LocalStack, method: str, path: str, body: Any = None,
         key: str | None = None) -> requests.Response:
    headers = stack.headers()
    if key is not None:
        headers["Idempotency-Key"] = key
    for resend in range(5):   # a reset connection is sent again: the Idempotency-Key makes that harmless
        try:
            return http.request(method, stack.url(path), json=body, headers=headers, timeout=60)
        except requests.ConnectionError:
            if resend == 4:
                raise
            time.sleep(0.1 * (resend + 1))
    raise AssertionError("unreachable")


def ok(http: requests.Session, stack: LocalStack, method: str, path: str, body: Any = None,
       status: int = 200, key: str | None = None) -> Any:
    response = call(http, stack, method, path, body, key)
    assert response.status_code == status, (method, path, response.status_code, response.text)
    return _json(response)


@pytest.fixture(scope="module")
def shopper(stack: LocalStack, http: requests.Session) -> dict[str, Any]:
    """A shopper of its own (fresh ids: the session's stack is shared) with a 500 Kohl's card, and a product."""
    tag = uuid.uuid4().hex[:8]
    user = ok(http, stack, "POST", "/users", {"user_id": f"shop-{tag}", "amazon_id": f"amz-{tag}", "name": "Shopper",
                                               "email": f"shop-{tag}@example.com"}, 201)
    card = ok(http, stack, "POST", "/gift_cards", {"card_id": f"kohls-{tag}", "user_id": f"shop-{tag}",
                                                   "issuer": "Kohls", "balance": 500, "expiry_date": "2035-12-31"}, 201)
    ok(http, stack, "PATCH", f"/users/{user['id']}", {"gift_cards": [f"kohls-{tag}"]})
    ok(http, stack, "POST", "/products", {"product_id": f"bed-{tag}", "name": "Dog Bed", "price": "50.00",
                                          "eligible_issuer": "Kohls"}, 201)
    return {"tag": tag, "amazon_id": f"amz-{tag}", "user_id": f"shop-{tag}", "user": user["id"], "card": card["id"],
            "cards": [card["id"]]}


def basket(shopper: dict[str, Any], quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"amazon_id": shopper["amazon_id"], "items": [{"product_id": f"bed-{shopper['tag']}",
                                                          "quantity": quantity}], **extra}


def card(http, stack, number: int) -> dict[str, Any]:
    return ok(http, stack, "GET", f"/gift_cards/{number}")


def assert_ledger_adds_up(http: requests.Session, stack: LocalStack, number: int) -> list[dict[str, Any]]:
    entries = ok(http, stack, "GET", f"/gift_cards/{number}/activities?limit=100")
    stored = card(http, stack, number)
    assert sum((D(e["amount"]) for e in entries), D(0)) == D(stored["balance"]), (stored, entries)
    open_holds = sum((D(e["hold_amount"]) * (1 if e["type"] == "HOLD" else -1) for e in entries
                      if e["type"] in ("HOLD", "CAPTURE", "RELEASE")), D(0))
    assert open_holds == D(stored["held"]), (stored, entries)
    return entries


def test_quote_and_pay_by_amazon_account(stack, http, shopper):
    quoted = ok(http, stack, "POST", "/checkout/quote", basket(shopper))
    assert quoted["user_id"] == shopper["user_id"] and quoted["amazon_id"] == shopper["amazon_id"]
    paid = ok(http, stack, "POST", "/payments", basket(shopper), 201, key=f"pay-{uuid.uuid4()}")
    assert paid["status"] == "captured" and paid["amazon_id"] == shopper["amazon_id"]
    both = call(http, stack, "POST", "/payments", {**basket(shopper), "user_id": shopper["user_id"]}, key="k")
    assert both.status_code == 422
    assert_ledger_adds_up(http, stack, shopper["card"])


def test_authorize_capture_part_and_refund_the_captured_part(stack, http, shopper):
    before = D(card(http, stack, shopper["card"])["balance"])
    auth = ok(http, stack, "POST", "/payments", basket(shopper, 2, capture=False), 201, key=f"auth-{uuid.uuid4()}")
    assert auth["status"] == "authorized" and auth["amount"] == 100 and auth["expires_at"]
    shown = card(http, stack, shopper["card"])
    assert D(shown["balance"]) == before - 100 and D(shown["held"]) == 100
    captured = ok(http, stack, "POST", f"/payments/{auth['id']}/capture", {"amount": 50}, key=f"cap-{uuid.uuid4()}")
    assert captured["status"] == "captured" and captured["captured_amount"] == 50 and captured["released_amount"] == 50
    shown = card(http, stack, shopper["card"])
    assert D(shown["balance"]) == before - 50 and D(shown["held"]) == 0
    again = call(http, stack, "POST", f"/payments/{auth['id']}/capture", {}, key=f"cap-{uuid.uuid4()}")
    assert again.status_code == 409
    too_much = call(http, stack, "POST", f"/payments/{auth['id']}/refunds", {"amount": 60}, key=f"r-{uuid.uuid4()}")
    assert too_much.status_code == 409
    refunded = ok(http, stack, "POST", f"/payments/{auth['id']}/refunds", {}, 201, key=f"r-{uuid.uuid4()}")
    assert refunded["amount"] == 50
    assert D(card(http, stack, shopper["card"])["balance"]) == before
    assert_ledger_adds_up(http, stack, shopper["card"])


def test_authorize_then_void(stack, http, shopper):
    before = D(card(http, stack, shopper["card"])["balance"])
    auth = ok(http, stack, "POST", "/payments", basket(shopper, capture=False), 201, key=f"auth-{uuid.uuid4()}")
    voided = ok(http, stack, "POST", f"/payments/{auth['id']}/void", key=f"void-{uuid.uuid4()}")
    assert voided["status"] == "voided" and voided["released_amount"] == 50
    assert D(card(http, stack, shopper["card"])["balance"]) == before
    assert call(http, stack, "POST", f"/payments/{auth['id']}/void", key=f"void-{uuid.uuid4()}").status_code == 409
    assert_ledger_adds_up(http, stack, shopper["card"])


def test_twenty_concurrent_captures_and_voids_of_one_authorization_have_one_winner(stack, http, shopper):
    auth = ok(http, stack, "POST", "/payments", basket(shopper, capture=False), 201, key=f"auth-{uuid.uuid4()}")

    def attempt(i: int) -> int:
        with requests.Session() as own:
            action = "capture" if i % 2 else "void"
            return call(own, stack, "POST", f"/payments/{auth['id']}/{action}", {} if i % 2 else None,
                        key=f"race-{auth['id']}-{i}").status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert statuses.count(200) == 1 and statuses.count(409) == 19, statuses
    final = ok(http, stack, "GET", f"/payments/{auth['id']}")
    assert final["status"] in ("captured", "voided")
    entries = assert_ledger_adds_up(http, stack, shopper["card"])
    closing = [e["type"] for e in entries if e["reference"] == auth["id"] and e["type"] != "HOLD"]
    assert closing == (["CAPTURE"] if final["status"] == "captured" else ["RELEASE"])


def test_a_30_second_hold_is_released_by_the_sweep_and_capture_is_then_authorization_expired(stack, http, shopper):
    before = D(card(http, stack, shopper["card"])["balance"])
    auth = ok(http, stack, "POST", "/payments", basket(shopper, capture=False, hold_seconds=30), 201,
              key=f"auth-{uuid.uuid4()}")
    assert D(card(http, stack, shopper["card"])["balance"]) == before - 50
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if ok(http, stack, "GET", f"/payments/{auth['id']}")["status"] == "expired":
            break
        time.sleep(5)
    payment = ok(http, stack, "GET", f"/payments/{auth['id']}")
    assert payment["status"] == "expired" and payment["released_amount"] == 50, payment
    assert D(card(http, stack, shopper["card"])["balance"]) == before
    late = call(http, stack, "POST", f"/payments/{auth['id']}/capture", {}, key=f"cap-{uuid.uuid4()}")
    assert late.status_code == 409
    assert_error_shape(_json(late), "authorization_expired")
    entries = assert_ledger_adds_up(http, stack, shopper["card"])
    assert [e["type"] for e in entries if e["reference"] == auth["id"]] == ["HOLD", "RELEASE"]


def test_capture_after_expires_at_and_before_the_sweep_is_authorization_expired(stack, http, shopper):
    auth = ok(http, stack, "POST", "/payments", basket(shopper, capture=False, hold_seconds=30), 201,
              key=f"auth-{uuid.uuid4()}")
    time.sleep(31)
    late = call(http, stack, "POST", f"/payments/{auth['id']}/capture", {}, key=f"cap-{uuid.uuid4()}")
    assert late.status_code == 409   # before or after the sweep released it (it runs every minute)
    assert_error_shape(_json(late), "authorization_expired")


def test_a_reward_paid_into_the_wallet_buys_a_lowes_product(stack, http, shopper):
    order = ok(http, stack, "POST", "/rewards/order", {"reward_id": 27234, "amount": 30, "delivery_method": 3,
                                                       "user_id": shopper["user_id"]}, 201, key=f"ro-{uuid.uuid4()}")
    assert order["order_status"] == "complete" and order["reward"]["card_id"], order
    number = order["reward"]["id"]
    new_card = card(http, stack, number)
    assert new_card["issuer"] == "Lowes" and new_card["balance"] == 30 and new_card["linked"] is True
    tag = shopper["tag"]
    ok(http, stack, "POST", "/products", {"product_id": f"lowes-sander-{tag}", "name": "Orbital Sander",
                                          "price": "24.00", "eligible_issuer": "Lowes"}, 201)
    paid = ok(http, stack, "POST", "/payments", {"amazon_id": shopper["amazon_id"],
                                                 "items": [{"product_id": f"lowes-sander-{tag}"}]}, 201,
              key=f"pay-{uuid.uuid4()}")
    assert paid["allocations"] == [{"card_id": order["reward"]["card_id"], "gift_card_id": number, "amount": 24,
                                    "balance_after": 6}]
    assert_ledger_adds_up(http, stack, number)
    assert_ledger_adds_up(http, stack, shopper["card"])
