"""Reward orders under faults, over HTTP against the local stack: handler workers are killed (SIGKILL, as a
Lambda execution environment can vanish) while 30 email orders are placed, each retried with its own
Idempotency-Key until it is answered. Then: at most one order and one email per key, and no order left
queued or sending: each ends delivered or failed, whatever line its functions died at (request, stream
relay, email worker, dead-letter handler all run in the same workers)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import LocalStack
from tests.e2e.faults import kill_workers_for

pytestmark = pytest.mark.e2e

ORDERS = 30
KILL_SECONDS = 10.0


def place_until_answered(stack: LocalStack, body: dict, key: str) -> tuple[list[requests.Response], int]:
    """POST the order until a 201, resending the same request with the same key after any failure (a 5xx
    from a killed worker, a 409 from contention, a reset connection), as a careful client does."""
    answers, failures = [], 0
    deadline = time.monotonic() + 120
    with requests.Session() as http:
        while time.monotonic() < deadline:
            try:
                response = http.post(stack.url("/rewards/order"), json=body, timeout=30,
                                     headers={**stack.headers(), "Idempotency-Key": key})
            except requests.RequestException:
                failures += 1
                time.sleep(0.2)
                continue
            if response.status_code == 201:
                answers.append(response)
                return answers, failures
            assert response.status_code in (409, 500, 502, 503, 504), response.text
            failures += 1
            time.sleep(0.2)
    raise AssertionError(f"the order with key {key} was never answered")


def all_orders(http: requests.Session, stack: LocalStack) -> list[dict]:
    found, url = [], stack.url("/rewards/orders?limit=100")
    for _ in range(1000):
        response = http.get(url, headers=stack.headers(), timeout=30)
        assert response.status_code == 200, response.text
        found += response.json()
        if "next" not in response.links:
            return found
        url = response.links["next"]["url"]
    raise AssertionError("the orders' pages never ended")


def test_killing_workers_while_30_email_orders_are_placed_leaves_one_order_and_at_most_one_email_per_key(
        stack: LocalStack, http: requests.Session):
    tag = uuid.uuid4().hex[:8]
    requests_by_key = {f"crash-{tag}-{i}": {"reward_id": 27234, "amount": 5 + i, "delivery_method": 2,
                                            "delivery_email": f"crash-{tag}-{i}@example.com"}
                       for i in range(ORDERS)}
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_workers_for, args=(KILL_SECONDS, stop, killed), daemon=True)
    killer.start()   # kills while the orders are placed, relayed and emailed, then lets them all finish
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            results = dict(zip(requests_by_key, pool.map(lambda k: place_until_answered(stack, requests_by_key[k], k),
                                                         requests_by_key), strict=True))
    finally:
        stop.set()
        killer.join(5)
    assert killed, "no worker was killed: the test proved nothing"
    assert sum(f for _, f in results.values()) > 0, "no request failed: the kills never hit a request"

    answered = {key: answers[-1].json()["order_id"] for key, (answers, _) in results.items()}
    assert len(set(answered.values())) == ORDERS

    # at most (here: exactly) one order per key, and every order ends delivered or failed
    def settled() -> list[dict] | None:
        mine = [o for o in all_orders(http, stack) if str(o.get("delivery_email", "")).startswith(f"crash-{tag}-")]
        if len(mine) == ORDERS and all(o["delivery_status"] in ("delivered", "failed") for o in mine):
            return mine
        return None

    deadline, mine = time.monotonic() + 120, None
    while time.monotonic() < deadline and mine is None:
        mine = settled()
        if mine is None:
            time.sleep(1)
    if mine is None:
        left = [o for o in all_orders(http, stack) if str(o.get("delivery_email", "")).startswith(f"crash-{tag}-")]
        pytest.fail(f"{len(left)} orders; not settled: {[(o['order_id'], o['delivery_status']) for o in left if o['delivery_status'] not in ('delivered', 'failed')]}")
    by_address: dict[str, list[dict]] = {}
    for o in mine:
        by_address.setdefault(o["delivery_email"], []).append(o)
    assert {address: len(orders) for address, orders in by_address.items()} == {
        body["delivery_email"]: 1 for body in requests_by_key.values()}
    for key, body in requests_by_key.items():
        assert by_address[body["delivery_email"]][0]["order_id"] == answered[key]
    for o in mine:
        assert o["delivery_status"] == "delivered" or o["failure_reason"], o

    emails = http.get(stack.url("/_local/outbox"), timeout=30).json()
    sent_to = [address for e in emails for address in e["to"] if address.startswith(f"crash-{tag}-")]
    assert all(sent_to.count(address) <= 1 for address in by_address), sorted(sent_to)
    delivered = {o["delivery_email"] for o in mine if o["delivery_status"] == "delivered"}
    assert delivered <= set(sent_to)
