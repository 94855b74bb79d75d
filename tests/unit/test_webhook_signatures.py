"""Webhook signatures, the README's receiver example, where webhooks may go, and the retry schedule: pure
functions, no network (names that need resolving are IP literals or the loopback name)."""

from __future__ import annotations

import random
import re
import time
from typing import get_args

import pytest

from flexigift.delivery.webhook_http import UnsafeUrl, resolve
from flexigift.logic.deliver_webhooks import BASE_DELAY, MAX_DELAY, backoff
from flexigift.models.events import EventType, EventTypeOrAll, WebhookEndpointCreate
from flexigift.webhooks import sign, verify_signature
from tests.e2e.conftest import ROOT

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt_0123456789abcdef01234567","type":"payment.captured","created_at":"2026-12-03T09:00:00.000Z","data":{}}'


def test_a_signature_verifies_only_for_its_secret_body_and_time():
    now = int(time.time())
    header = sign(SECRET, BODY, now)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify_signature(SECRET, BODY, header)
    assert verify_signature(SECRET, BODY.decode(), header)
    assert not verify_signature("whsec_other", BODY, header)
    assert not verify_signature(SECRET, BODY + b" ", header)
    assert not verify_signature(SECRET, BODY, sign(SECRET, BODY, now - 3600))            # replayed an hour later
    assert verify_signature(SECRET, BODY, sign(SECRET, BODY, now - 3600), tolerance_seconds=7200)
    for broken in (None, "", "v1=abc", "t=abc,v1=00", f"t={now}", f"t={now},v1=", "garbage"):
        assert not verify_signature(SECRET, BODY, broken), broken


def test_the_signature_is_the_hmac_of_t_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, 1700000000) == f"t=1700000000,v1={expected}"


def test_the_readme_receiver_example_runs_as_printed():
    """Given the README's Python example (the ten lines under 'Events and signed webhooks'), when it receives a
    signed delivery twice, a tampered one and an unsigned one, then 200, 200 (deduplicated), 400, 400."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Events and signed webhooks"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in block.splitlines() if line.strip()]) <= 10
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    headers = {"Flexigift-Event-Id": "evt_0123456789abcdef01234567",
               "Flexigift-Signature": sign(SECRET, BODY, int(time.time()))}
    assert scope["receive"](SECRET, headers, BODY) == 200
    assert scope["receive"](SECRET, headers, BODY) == 200 and scope["seen"] == {"evt_0123456789abcdef01234567"}
    assert scope["receive"](SECRET, headers, BODY.replace(b"captured", b"voided")) == 400
    assert scope["receive"](SECRET, {"Flexigift-Event-Id": "evt_x"}, BODY) == 400


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/", "https://10.1.2.3/", "https://172.16.5.4/",
    "https://192.168.0.1/", "https://100.64.0.1/", "https://127.0.0.1/", "https://[::1]/", "https://[fd00:ec2::254]/",
    "https://[fe80::1]/", "https://[::ffff:10.0.0.1]/", "https://0.0.0.0/", "https://224.0.0.1/", "https://localhost/",
    "http://8.8.8.8/", "ftp://8.8.8.8/", "https://user:pw@8.8.8.8/", "https:///nohost", "javascript:alert(1)"])
def test_deployed_only_https_to_public_addresses(url):
    with pytest.raises(UnsafeUrl):
        resolve(url, allow_loopback=False)


def test_deployed_a_public_https_address_is_accepted_and_pinned():
    target = resolve("https://8.8.8.8:8443/hooks?x=1", allow_loopback=False)
    assert (target.scheme, target.address, target.port, target.path) == ("https", "8.8.8.8", 8443, "/hooks?x=1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081/hooks", "https://127.0.0.1/hooks", "http://localhost:9/x"])
def test_locally_loopback_is_allowed(url):
    assert resolve(url, allow_loopback=True).address in ("127.0.0.1", "::1")


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://10.0.0.1/", "http://8.8.8.8/",
                                 "https://192.168.1.1/"])
def test_locally_private_metadata_and_plain_http_elsewhere_are_still_refused(url):
    with pytest.raises(UnsafeUrl):
        resolve(url, allow_loopback=True)


def test_the_retry_schedule_backs_off_with_jitter_and_caps_at_an_hour():
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
        delays = [backoff(attempt, 1.0, rng) for _ in range(50)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1                      # jitter: not all the same
    # over 24 hours at the cap's lower bound (30 min) a delivery is tried at most ~55 times: fewer than the
    # queue's maxReceiveCount (200), so no message reaches the dead-letter queue for being retried
    assert sum(backoff(a, 1.0, random.Random(a)) for a in range(1, 60)) > 24 * 3600
    assert backoff(1, 1 / 60, random.Random(1)) <= 0.5


def test_event_types_and_endpoint_choices_agree():
    assert set(get_args(EventTypeOrAll)) == {t.value for t in EventType} | {"*"}
    assert WebhookEndpointCreate(url="https://x.example/h", events=["*", "payment.captured"]).events == ["*"]
    assert WebhookEndpointCreate(url="https://x.example/h",
                                 events=["refund.created", "refund.created"]).events == ["refund.created"]
