"""Money under faults, over HTTP against the local stack: handler workers are killed (SIGKILL, as a Lambda
execution environment can vanish at any line) while payments, refunds and balance activities are sent, each
retried with its own Idempotency-Key until it is answered. Then every key moved money exactly once: one
payment per key, every card's ledger sums to its balance, the debits equal the payments, the credits the
refunds and activities."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalStack
from tests.e2e.faults import kill_workers_for

pytestmark = pytest.mark.e2e
D = Decimal
PAYMENTS, CARDS = 16, 4
KILL_SECONDS = 10.0


def send_until_answered(stack: LocalStack, path: str, body: dict | None, key: str,
                        expect: int = 201) -> dict[str, Any]:
    """POST until `expect` (201), resending the same request with the same key after any failure (a 5xx from a killed
    worker, a 409 from contention, a reset connection), as a careful client does; returns the answer."""
    deadline, last = time.monotonic() + 120, "nothing"
    with requests.Session() as http:
        while time.monotonic() < deadline:
            try:
                response = http.post(stack.url(path), json=body, timeout=30,
                                     headers={**stack.headers(), "Idempotency-Key": key})
            except requests.RequestException as exc:
                last = repr(exc)
                time.sleep(0.2)
                continue
            if response.status_code == expect:
                return response.json(parse_float=D)
            assert response.status_code in (409, 500, 502, 503, 504), response.text
            last = f"{response.status_code} {response.text[:300]}"
            time.sleep(0.2)
    raise AssertionError(f"{path} with key {key} was never answered; last: {last}")


def _ok(http: requests.Session, stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    response = http.request(method, stack.url(path), json=body, headers=stack.headers(), timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json(parse_float=D)


def _shopper(http: requests.Session, stack: LocalStack) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """A user of its own with CARDS cards of 100 and a product of 15.00 they can buy: (tag, cards, basket)."""
    tag = uuid.uuid4().hex[:8]
    user = {"user_id": f"crash-{tag}", "amazon_id": f"amz-{tag}", "name": "Crash Test",
            "email": f"crash-{tag}@example.com"}
    issuer = f"Crash{tag}"
    created = _ok(http, stack, "POST", "/users", user)
    cards = [_ok(http, stack, "POST", "/gift_cards", {"card_id": f"card-{tag}-{i}", "user_id": user["user_id"],
                                                      "issuer": issuer, "balance": 100, "expiry_date": "2035-12-31"})
             for i in range(CARDS)]
    _ok(http, stack, "PUT", f"/users/{created['id']}", {**user, "gift_cards": [c["card_id"] for c in cards]})
    _ok(http, stack, "POST", "/products", {"product_id": f"item-{tag}", "name": "Thing", "price": "15.00",
                                           "eligible_issuer": issuer})
    return tag, cards, {"user_id": user["user_id"], "items": [{"product_id": f"item-{tag}", "quantity": 1}]}


def test_killed_workers_move_money_exactly_once_per_key(stack: LocalStack, http: requests.Session):
    tag, cards, basket = _shopper(http, stack)

    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_workers_for, args=(KILL_SECONDS, stop, killed), daemon=True)
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            paid = list(pool.map(lambda i: send_until_answered(stack, "/payments", basket, f"pay-{tag}-{i}"),
                                 range(PAYMENTS)))
            refunds = list(pool.map(
                lambda i: send_until_answered(stack, f"/payments/{paid[i]['id']}/refunds", {"amount": 5},
                                              f"refund-{tag}-{i}"), range(0, PAYMENTS, 2)))
            loads = list(pool.map(
                lambda c: send_until_answered(stack, f"/gift_cards/{c['id']}/activities",
                                              {"type": "LOAD", "amount": 7, "reason": "crash test"},
                                              f"load-{tag}-{c['id']}"), cards))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed: the test proved nothing"

    # one payment per key: the answers name distinct payments, and each key replays its own
    assert len({p["id"] for p in paid}) == PAYMENTS
    replay = send_until_answered(stack, "/payments", basket, f"pay-{tag}-0")
    assert replay["id"] == paid[0]["id"]
    # every ledger sums to its balance, and the money adds up: debits = payments, credits = refunds + loads
    redeemed = refunded = loaded = D(0)
    for card in cards:
        balance = D(_ok(http, stack, "GET", f"/gift_cards/{card['id']}")["balance"])
        entries = _ok(http, stack, "GET", f"/gift_cards/{card['id']}/activities?limit=100")
        assert sum((D(e["amount"]) for e in entries), D(0)) == balance >= 0
        redeemed += sum((-D(e["amount"]) for e in entries if e["type"] == "REDEEM"), D(0))
        refunded += sum((D(e["amount"]) for e in entries if e["type"] == "REFUND"), D(0))
        loaded += sum((D(e["amount"]) for e in entries if e["type"] == "LOAD"), D(0))
    assert redeemed == sum((D(p["amount"]) for p in paid), D(0)) == 15 * PAYMENTS
    assert refunded == 5 * len(refunds) and loaded == 7 * len(loads)
    for refund in refunds:
        payment = _ok(http, stack, "GET", f"/payments/{refund['payment_id']}")
        assert D(payment["refunded_amount"]) == 5 and len(payment["refunds"]) == 1


def test_killed_workers_close_each_authorization_exactly_once(stack: LocalStack, http: requests.Session):
    """Given authorizations of 15.00 each, when half are captured for 10.00 and half voided while workers are
    killed, each close retried with its own Idempotency-Key until answered, then each authorization ends as
    asked, a replay of its key answers the same, no card keeps a hold, every ledger sums to its balance, and
    the cards gave exactly the captured amounts."""
    tag, cards, basket = _shopper(http, stack)
    with ThreadPoolExecutor(max_workers=8) as pool:
        held = list(pool.map(lambda i: send_until_answered(stack, "/payments", {**basket, "capture": False},
                                                           f"auth-{tag}-{i}"), range(PAYMENTS)))
    assert all(a["status"] == "authorized" for a in held)

    def close(i: int) -> dict[str, Any]:
        capture = i % 2 == 1
        return send_until_answered(stack, f"/payments/{held[i]['id']}/{'capture' if capture else 'void'}",
                                   {"amount": 10} if capture else None, f"close-{tag}-{i}", expect=200)

    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_workers_for, args=(KILL_SECONDS, stop, killed), daemon=True)
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            closed = list(pool.map(close, range(PAYMENTS)))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed: the test proved nothing"

    for i, answer in enumerate(closed):
        expected = "captured" if i % 2 else "voided"
        assert answer["status"] == expected, answer
        assert _ok(http, stack, "GET", f"/payments/{held[i]['id']}")["status"] == expected
        assert close(i)["status"] == expected  # the same key replays its answer
    remaining = D(0)
    for card in cards:
        shown = _ok(http, stack, "GET", f"/gift_cards/{card['id']}")
        entries = _ok(http, stack, "GET", f"/gift_cards/{card['id']}/activities?limit=100")
        assert sum((D(e["amount"]) for e in entries), D(0)) == D(shown["balance"]) >= 0
        assert D(shown["held"]) == 0, shown
        remaining += D(shown["balance"])
    assert remaining == 100 * CARDS - 10 * (PAYMENTS // 2)
