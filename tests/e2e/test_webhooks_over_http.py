"""Events and signed webhooks over HTTP against the local stack, with receivers on 127.0.0.1: the stack's own
outbox relay (its stream reader) and delivery worker (its SQS poller) carry every event, on the compressed retry
schedule the stack sets (FLEXIGIFT_WEBHOOK_RETRY_SCALE). Each test works in programs of its own."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from flexigift.webhooks import verify_signature
from tests.e2e.conftest import LocalStack
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 1000,
        "expiry_date": "2035-12-31"}
DOG_TREAT = {"product_id": "kohls-treat-001", "name": "Dog treats", "price": "7.00", "eligible_issuer": "Kohls"}
BASKET = {"user_id": "user006", "items": [{"product_id": "kohls-treat-001", "quantity": 1}]}


class Program:
    """A program of this test's own, acting with its admin key."""

    def __init__(self, http: requests.Session, stack: LocalStack, name: str) -> None:
        self.http, self.stack = http, stack
        self.id = f"{name}-{uuid.uuid4().hex[:8]}"
        created = http.post(stack.url("/admin/programs"), json={"program_id": self.id, "name": name},
                            headers=stack.headers(), timeout=30)
        assert created.status_code == 201, created.text
        key = http.post(stack.url("/admin/api_keys"), json={"name": "admin", "scopes": ["admin"],
                                                           "program_id": self.id},
                        headers=stack.headers(), timeout=30)
        assert key.status_code == 201, key.text
        self.key = key.json()["api_key"]

    def call(self, method: str, path: str, body: Any = None, idem: str | None = None) -> requests.Response:
        headers = self.stack.headers(self.key)
        if idem:
            headers["Idempotency-Key"] = idem
        for resend in range(5):   # a reset connection is sent again: the Idempotency-Key makes that harmless
            try:
                return self.http.request(method, self.stack.url(path), json=body, headers=headers, timeout=60)
            except requests.ConnectionError:
                if resend == 4:
                    raise
                time.sleep(0.2 * (resend + 1))
        raise AssertionError("unreachable")

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, idem: str | None = None) -> Any:
        answer = self.call(method, path, body, idem)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer.json(parse_float=Decimal) if answer.content else None

    def seed(self) -> None:
        self.ok("POST", "/users", JACK, 201)
        self.ok("POST", "/gift_cards", CARD, 201)
        self.ok("PATCH", "/users/1", {"gift_cards": [CARD["card_id"]]})
        self.ok("POST", "/products", DOG_TREAT, 201)

    def endpoint(self, url: str, events: list[str]) -> dict[str, Any]:
        return self.ok("POST", "/webhooks/endpoints", {"url": url, "events": events}, 201)

    def pay(self) -> dict[str, Any]:
        return self.ok("POST", "/payments", BASKET, 201, idem=f"e2e-{uuid.uuid4()}")


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


def test_a_captured_payment_arrives_within_5_seconds_signed(stack, http, receivers):
    """Given an endpoint for payment.captured on 127.0.0.1 (and another program's endpoint for everything), when
    a payment is captured, then the receiver has the event within 5 s, the signature verifies with the secret the
    endpoint was created with, GET /events/{id} shows the same event, and the other program's receiver got
    nothing."""
    program, other = Program(http, stack, "hooks"), Program(http, stack, "others")
    program.seed()
    receiver, bystander = receivers(), receivers()
    endpoint = program.endpoint(receiver.url, ["payment.captured"])
    other.endpoint(bystander.url, ["*"])
    paid_at = time.time()
    payment = program.pay()
    assert receiver.wait_for(lambda: receiver.of_type("payment.captured"), 5), "no payment.captured within 5 s"
    (got,) = receiver.accepted()
    print(f"payment.captured arrived {got.at - paid_at:.2f} s after the payment was sent")
    assert got.event["data"]["id"] == payment["id"] and got.headers["Flexigift-Event-Id"] == got.event["id"]
    assert verify_signature(endpoint["secret"], got.body, got.headers["Flexigift-Signature"])
    assert program.ok("GET", f"/events/{got.event['id']}") == got.event | {"data": got.event["data"]}
    time.sleep(2)
    assert bystander.received == []


def test_500_twice_then_200_arrives_on_the_third_attempt_and_the_log_shows_three(stack, http, receivers):
    program = Program(http, stack, "retries")
    program.seed()
    receiver = receivers([500, 500])
    endpoint = program.endpoint(receiver.url, ["payment.captured"])
    program.pay()
    assert receiver.wait_for(lambda: receiver.of_type("payment.captured"), 30)
    assert [r.status for r in receiver.received] == [500, 500, 200]
    log = program.ok("GET", f"/webhooks/endpoints/{endpoint['id']}/deliveries")
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in log] == [
        (3, "succeeded", 200), (2, "retrying", 500), (1, "retrying", 500)]


def test_events_raised_while_the_receiver_is_down_30_s_all_arrive_after_it_returns(stack, http, receivers):
    program = Program(http, stack, "outage")
    program.seed()
    receiver = receivers()
    program.endpoint(receiver.url, ["payment.captured"])
    receiver.stop()
    payments = {program.pay()["id"] for _ in range(5)}
    time.sleep(30)
    assert receiver.received == []
    receiver.start()
    returned = time.time()
    delivered = lambda: {r.event["data"]["id"] for r in receiver.of_type("payment.captured")}  # noqa: E731
    assert receiver.wait_for(lambda: delivered() == payments, 90), (payments - delivered())
    print(f"all 5 arrived {time.time() - returned:.1f} s after the receiver returned")


def test_50_parallel_payments_give_50_distinct_payment_captured_events(stack, http, receivers):
    program, other = Program(http, stack, "parallel"), Program(http, stack, "bystander")
    program.seed()
    receiver, bystander = receivers(), receivers()
    program.endpoint(receiver.url, ["payment.captured"])
    other.endpoint(bystander.url, ["*"])
    with ThreadPoolExecutor(max_workers=10) as pool:
        payments = {p["id"] for p in pool.map(lambda _: program.pay(), range(50))}
    assert len(payments) == 50
    events: list[dict] = []
    deadline = time.time() + 30   # the indexer lists a stream batch's events within about its batching window
    while time.time() < deadline:
        page = program.call("GET", "/events?type=payment.captured&limit=100")
        assert page.status_code == 200
        events = page.json()
        if len(events) >= 50:
            break
        time.sleep(0.2)
    assert len(events) == 50 and len({e["id"] for e in events}) == 50 and {e["data"]["id"] for e in events} == payments
    delivered = lambda: {r.event["data"]["id"] for r in receiver.of_type("payment.captured")}  # noqa: E731
    assert receiver.wait_for(lambda: delivered() == payments, 120), len(payments - delivered())
    assert len({r.event["id"] for r in receiver.of_type("payment.captured")}) == 50
    assert bystander.received == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/iam/", "https://10.0.0.8/hooks",
                                 "https://192.168.0.2/hooks", "ftp://127.0.0.1/hooks", "gopher://example.com/"])
def test_a_metadata_private_or_non_http_url_is_a_422(stack, http, url):
    answer = http.post(stack.url("/webhooks/endpoints"), json={"url": url, "events": ["*"]},
                       headers=stack.headers(), timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"][0]["field"] == "url"
