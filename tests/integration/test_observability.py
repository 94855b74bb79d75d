"""Observability through the handlers, against moto: what the logs hold (correlation ids; never a reward
code, PIN, raw API key or full email address) and the business metrics each flow emits (EMF on stdout)."""

from __future__ import annotations

import io
import json
from typing import Any, Iterator

import pytest

from flexigift.observability import logger, mask_email, redact_emails
from tests.integration.test_checkout import DOG_BED, KOHLS_CARD, jack_with_cards, pay, refund, register_card
from tests.integration.test_checkout import register_user as register_jack
from tests.integration.test_rewards_orders import EMAIL_ORDER, JACK, code_of, order, pump
from tests.support import FakeContext, api_event, call, handler, load_event

API_ORDER = {"reward_id": 27234, "amount": 25, "delivery_method": 1}


@pytest.fixture
def catalog(aws, rewards):
    """Given the sample feed loaded into the catalog."""
    assert handler("refresh_rewards_catalog")(load_event("refresh_rewards_catalog"), FakeContext())["applied"]
    return rewards


class LogLines:
    """Every line the Powertools logger writes while a test runs, parsed (it writes JSON to stdout)."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("message") == message]


@pytest.fixture
def logs() -> Iterator[LogLines]:
    """The logger's stream swapped for a buffer, at DEBUG so that nothing is filtered out. (capsys cannot
    see it: the logger's handler holds the sys.stdout of import time.)"""
    stream = io.StringIO()
    previous_stream = logger.registered_handler.setStream(stream)
    previous_level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield LogLines(stream)
    finally:
        logger.setLevel(previous_level)
        logger.registered_handler.setStream(previous_stream)


def emitted_metrics(text: str) -> dict[str, float]:
    """Metric name -> value summed over the EMF blobs in stdout."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found[metric["Name"]] = found.get(metric["Name"], 0) + sum(value if isinstance(value, list) else [value])
    return found


def test_redact_emails_masks_every_address_in_free_text():
    text = "MessageRejected: Email address is not verified: jack.johnson@example.com, <ann@shop.example.org>"
    assert redact_emails(text) == ("MessageRejected: Email address is not verified: j***@example.com, "
                                   "<a***@shop.example.org>")
    assert mask_email("jack.johnson@example.com") == "j***@example.com"


class TestLogs:
    def test_orders_deliveries_and_key_issue_never_log_codes_pins_keys_or_full_emails(self, aws, catalog, logs):
        """Given an email order (delivered by the worker, then failing once with SES), an API order and a
        newly issued key used through the authorizer, then the log holds none of the codes, PINs, the raw
        key or the address, but does hold the masked address and each line's correlation id."""
        status, email_order, _ = order(EMAIL_ORDER)
        assert status == 201
        messages, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert result == {"batchItemFailures": []}
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)  # SES now refuses (quoting addresses)
        status, failing_order, _ = order({**EMAIL_ORDER, "amount": 50})
        assert status == 201
        failed, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert len(result["batchItemFailures"]) == 1
        status, api_order, _ = order(API_ORDER)
        assert status == 201 and api_order["reward"]["reward_code"]

        status, issued, _ = call("create_api_key", api_event("create_api_key", body={
            "name": "observability", "scopes": ["wallet:read"]}))
        assert status == 201, issued
        authorizer_event = load_event("authorizer")
        authorizer_event["headers"]["Authorization"] = issued["api_key"]
        authorizer_event["requestContext"]["requestId"] = "authorizer-request-1"
        assert handler("authorizer")(authorizer_event, FakeContext())["principalId"] == issued["key_id"]

        secrets = [issued["api_key"], JACK, api_order["reward"]["reward_code"], api_order["reward"]["reward_pin"]]
        for placed_order in (email_order, failing_order):
            secrets += list(code_of(aws, placed_order["order_id"]))
        assert logs.lines(), "nothing was captured: the test would prove nothing"
        for secret in secrets:
            assert secret not in logs.text, f"{secret!r} was logged"
        assert mask_email(JACK) in logs.text

        assert {line["correlation_id"] for line in logs.with_message("reward ordered")} == {
            email_order["request_id"], failing_order["request_id"], api_order["request_id"]}
        assert logs.with_message("reward email sent")[0]["correlation_id"] == messages[0]["MessageId"]
        assert logs.with_message("reward email not sent")[0]["correlation_id"] == failed[0]["MessageId"]
        assert logs.with_message("authorized")[0]["correlation_id"] == "authorizer-request-1"

    def test_the_catalog_refresh_carries_the_schedule_events_id(self, aws, catalog, logs):
        event = load_event("refresh_rewards_catalog")
        event["id"] = "eventbridge-event-1"
        handler("refresh_rewards_catalog")(event, FakeContext())
        assert logs.with_message("catalog refreshed")[0]["correlation_id"] == "eventbridge-event-1"


class TestBusinessMetrics:
    """Each business event is counted (EMF, namespace Flexigift) in the flow where it happens."""

    def test_registering_a_user(self, aws, capsys):
        capsys.readouterr()
        register_jack()
        assert emitted_metrics(capsys.readouterr().out).get("UserRegistered") == 1

    def test_linking_cards_to_a_wallet(self, aws, capsys):
        jack = register_jack()
        register_card()
        capsys.readouterr()
        status, body, _ = call("update_user", api_event("update_user", body={"gift_cards": [KOHLS_CARD["card_id"]]},
                                                        path_id=jack))
        assert status == 200, body
        assert emitted_metrics(capsys.readouterr().out).get("GiftCardLinked") == 1

    def test_paying_and_refunding(self, aws, capsys):
        jack_with_cards({}, products=(DOG_BED,))
        capsys.readouterr()
        status, payment, _ = pay()
        assert status == 201, payment
        assert emitted_metrics(capsys.readouterr().out).get("PaymentCaptured") == 1
        status, body, _ = refund(payment["id"], {"amount": 20})
        assert status == 201, body
        assert emitted_metrics(capsys.readouterr().out).get("PaymentRefunded") == 1

    def test_ordering_and_emailing_a_reward(self, aws, catalog, capsys):
        capsys.readouterr()
        status, answer, _ = order(EMAIL_ORDER)
        assert status == 201, answer
        assert emitted_metrics(capsys.readouterr().out).get("OrderPlaced") == 1
        pump(catalog, catalog.queue_url, "deliver_reward_emails")
        sent = emitted_metrics(capsys.readouterr().out)
        assert sent.get("EmailSent") == 1 and "EmailFailed" not in sent

    def test_an_email_ses_refuses_is_counted_as_failed(self, aws, catalog, capsys):
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)
        order(EMAIL_ORDER)
        capsys.readouterr()
        pump(catalog, catalog.queue_url, "deliver_reward_emails")
        failed = emitted_metrics(capsys.readouterr().out)
        assert failed.get("EmailFailed") == 1 and "EmailSent" not in failed
