"""The Giftcard Rewards over HTTP against the local stack: the seed's two requests, an email order whose
code reaches the outbox, a failing SES send that ends in the dead-letter queue with the order failed, the
idempotent retry, and a broken feed that leaves the catalog intact."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests

from local import template
from tests.e2e.conftest import LocalStack, assert_error_shape
from tests.rewards_support import SAMPLE_FEED, SEED_LOWES, SEED_ORDER, SEED_REWARD_FIELDS

pytestmark = pytest.mark.e2e

SENDER = str(template.load()["Parameters"]["RewardsSenderEmail"]["Default"])


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s")


def order(http: requests.Session, stack: LocalStack, body: dict, key: str | None = None) -> requests.Response:
    headers = {**stack.headers(), **({"Idempotency-Key": key} if key else {})}
    return http.post(stack.url("/rewards/order"), json=body, headers=headers, timeout=10)


def get_order(http: requests.Session, stack: LocalStack, order_id: str) -> dict:
    response = http.get(stack.url(f"/rewards/orders/{order_id}"), headers=stack.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["order"]


def outbox_email_to(http: requests.Session, stack: LocalStack, address: str) -> dict | None:
    emails = http.get(stack.url("/_local/outbox"), timeout=10).json()
    return next((e for e in emails if address in e["to"]), None)


@pytest.fixture(scope="module")
def local_aws(stack: LocalStack, http: requests.Session) -> dict[str, Any]:
    """moto's endpoint and the physical names, as the local stack publishes them at /_local/aws."""
    info = http.get(stack.url("/_local/aws"), timeout=10).json()

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=info["endpoint"], region_name=info["region"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    return {**info, "client": client}


class TestSeedRequests:
    def test_the_seed_catalog_request_answers_the_seed_shape(self, stack, http):
        """Given the stack (it loads the sample feed at start), when the seed's catalog curl is sent,
        then the answer is the seed's envelope with Lowe's exactly as the seed shows it."""
        response = http.get(stack.url("/rewards/catalog"), headers=stack.headers(), timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "success" and body["request_id"]
        # the seed's item field for field, plus the issuer whose products its gift card buys
        assert next(i for i in body["catalog"] if i["rewards_id"] == 27234) == {**SEED_LOWES, "issuer": "Lowes"}

    def test_the_seed_sample_order_answers_the_seed_shape(self, stack, http):
        response = order(http, stack, SEED_ORDER)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "success" and body["order_status"] == "complete" and body["order_id"]
        assert {k: type(v) for k, v in body["reward"].items()} == SEED_REWARD_FIELDS
        assert body["reward"]["reward_amount"] == "1" and body["reward"]["reward_type"] == "codePin"

    def test_a_key_without_rewards_scopes_is_refused(self, stack, http):
        key = http.post(stack.url("/admin/api_keys"), headers=stack.headers(), timeout=10,
                        json={"name": "wallet only", "scopes": ["wallet:read"]}).json()["api_key"]
        response = http.post(stack.url("/rewards/order"), json=SEED_ORDER, headers=stack.headers(key), timeout=10)
        assert response.status_code == 403
        assert_error_shape(response.json(), "forbidden")


class TestEmailDelivery:
    def test_an_email_orders_code_reaches_the_outbox_within_seconds(self, stack, http):
        """Given an email order, then within a few seconds the outbox holds one email to that address with
        the code (text and HTML), /_local/outbox/<id> shows its HTML, and the order is delivered."""
        address = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        response = order(http, stack, {"reward_id": 27234, "amount": 25, "delivery_method": 2,
                                       "delivery_email": address})
        assert response.status_code == 201 and response.json()["order_status"] == "pending"
        order_id = response.json()["order_id"]
        sent = wait_for(lambda: outbox_email_to(http, stack, address), 10, "the email")
        assert sent["from"] == SENDER and "Lowes eGift Voucher" in sent["subject"] and sent["sent_at"]
        code = next(line.split()[-1] for line in sent["text"].splitlines() if line.startswith("Code:"))
        assert code in sent["html"] and "25 USD" in sent["text"]
        page = http.get(stack.url(f"/_local/outbox/{sent['id']}"), timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html") and code in page.text
        shown = wait_for(lambda: (o := get_order(http, stack, order_id))["delivery_status"] == "delivered" and o,
                         10, "the delivered status")
        assert shown["order_status"] == "complete" and shown["reward_code_last4"] == code[-4:]
        emails = http.get(stack.url("/_local/outbox"), timeout=10).json()
        assert [e["to"] for e in emails].count([address]) == 1
        assert emails == sorted(emails, key=lambda e: e["sent_at"])

    def test_a_failing_ses_send_ends_in_the_dead_letter_queue_with_the_order_failed(self, stack, http, local_aws):
        """Given SES refusing (the sender identity removed), when an email order is placed, then after the
        queue's tries the dead-letter handler marks it failed with SES's reason; with SES back, a resend
        delivers it."""
        ses = local_aws["client"]("sesv2")
        address = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        ses.delete_email_identity(EmailIdentity=SENDER)
        try:
            response = order(http, stack, {"reward_id": 27251, "amount": 10, "delivery_email": address})
            assert response.status_code == 201
            order_id = response.json()["order_id"]
            failed = wait_for(lambda: (o := get_order(http, stack, order_id))["order_status"] == "failed" and o,
                              40, "the failed status")
        finally:
            ses.create_email_identity(EmailIdentity=SENDER)
        assert failed["delivery_status"] == "failed" and "MessageRejected" in failed["failure_reason"]
        assert "3 attempt(s)" in failed["failure_reason"]
        assert outbox_email_to(http, stack, address) is None
        resent = http.post(stack.url(f"/rewards/orders/{order_id}/resend"), headers=stack.headers(), json={},
                           timeout=10)
        assert resent.status_code == 202, resent.text
        wait_for(lambda: outbox_email_to(http, stack, address), 10, "the resent email")
        assert get_order(http, stack, order_id)["resend_count"] == 1


class TestIdempotency:
    def test_a_retry_with_the_same_key_returns_the_first_answer(self, stack, http):
        key = f"e2e-{uuid.uuid4().hex}"
        first = order(http, stack, {**SEED_ORDER, "delivery_method": 1}, key=key)
        again = order(http, stack, {**SEED_ORDER, "delivery_method": 1}, key=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
        other = order(http, stack, {**SEED_ORDER, "amount": 2, "delivery_method": 1}, key=key)
        assert other.status_code == 422
        assert_error_shape(other.json(), "idempotency_key_reused")
        listed = http.get(stack.url("/rewards/orders"), headers=stack.headers(), params={"limit": 100},
                          timeout=10).json()
        assert [o["order_id"] for o in listed].count(first.json()["order_id"]) == 1


class TestCatalogRefresh:
    @pytest.fixture
    def feed(self, local_aws) -> Iterator[Callable[[bytes], None]]:
        s3, bucket = local_aws["client"]("s3"), local_aws["physical"]["CatalogFeedBucket"]

        def upload(body: bytes) -> None:
            s3.put_object(Bucket=bucket, Key="catalog.json", Body=body)

        yield upload
        upload(SAMPLE_FEED.read_bytes())

    def test_a_broken_feed_leaves_the_catalog_intact(self, stack, http, feed):
        """Given the live catalog, when the refresh runs on a feed that is not JSON, then it reports the
        feed rejected and the catalog answers exactly as before."""
        before = http.get(stack.url("/rewards/catalog"), headers=stack.headers(), timeout=10).json()["catalog"]
        feed(b'{"rewards": [ this is not json')
        run = http.post(stack.url("/_local/schedules/RefreshRewardsCatalogFunction"), timeout=30)
        assert run.status_code == 200 and run.json()["applied"] is False and run.json()["reason"]
        after = http.get(stack.url("/rewards/catalog"), headers=stack.headers(), timeout=10).json()["catalog"]
        assert after == before and len(after) > 10
