"""Rewards orders through their handlers against moto: ordering (API and email delivery), programs, the
outbox relay, the email worker and the dead-letter handler (SQS, KMS, SES), the orders API, resends and
idempotency. Each test checks what is stored, queued or sent, not only what is answered.

An email order reaches the delivery queue through its outbox record: `relay_outbox` plays the stream's
event source mapping (moto's DynamoDB stream read as Lambda reads it, filtered by template.yaml's
FilterCriteria, given to the relay handler)."""

from __future__ import annotations

import copy
import email
import json
import re
import uuid
from datetime import date, datetime, timezone
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from flexigift import vault
from flexigift.logic.order_rules import CODE_PATTERN, valid_till
from flexigift.logic.programs import configure_program
from local import template
from local.rewards_services import filter_patterns, matches, stream_records
from tests.integration.conftest import all_items, stored
from tests.rewards_support import SEED_ORDER, SEED_REWARD_FIELDS
from tests.support import FakeContext, api_event, call, handler, load_event

JACK = "jack.johnson@example.com"
EMAIL_ORDER = {"reward_id": 27234, "amount": 25, "delivery_method": 2, "delivery_email": JACK}


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def catalog(aws, rewards):
    """Given the table's stream on (as template.yaml declares it) and the sample feed loaded into the catalog."""
    enable_stream(aws)
    report = handler("refresh_rewards_catalog")(load_event("refresh_rewards_catalog"), FakeContext())
    assert report["applied"] is True
    return rewards


def order(body: Any, *, key: str | None = None, program: str = "default", key_id: str = "key_sample",
          scopes: str = "rewards:read rewards:order") -> tuple[int, dict, dict]:
    event = api_event("create_reward_order", body=body, scopes=scopes)
    event["headers"].pop("Idempotency-Key", None)
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
    event["requestContext"]["requestId"] = str(uuid.uuid4())  # every API Gateway request has its own
    event["requestContext"]["authorizer"].update(program_id=program, key_id=key_id, principalId=key_id)
    return call("create_reward_order", event)


def placed(body: Any, **kwargs: Any) -> dict:
    status, answer, _ = order(body, **kwargs)
    assert status == 201, answer
    return answer


def orders_api(name: str, *, order_id: str | None = None, body: Any = ..., program: str = "default",
               query: dict[str, str] | None = None, raw_body: str | None = None) -> tuple[int, dict, dict]:
    event = api_event(name, body=body, path_id=order_id, query=query, raw_body=raw_body)
    event["requestContext"]["authorizer"]["program_id"] = program
    return call(name, event)


def order_key(order_id: str, program: str = "default") -> dict:
    return {"PK": {"S": f"P#{program}#REWARD_ORDER#{order_id}"}, "SK": {"S": "REWARD_ORDER"}}


def order_item(aws, order_id: str, program: str = "default") -> dict:
    item = stored(aws, f"P#{program}#REWARD_ORDER#{order_id}", "REWARD_ORDER")
    assert item is not None
    return item


def set_delivery_status(aws, order_id: str, status: str) -> None:
    aws.update_item(TableName="flexigift-test", Key=order_key(order_id), UpdateExpression="SET delivery_status = :s",
                    ExpressionAttributeValues={":s": {"S": status}})


def code_of(aws, order_id: str, program: str = "default") -> tuple[str, str]:
    """The sealed code and PIN of an order, opened with the KMS key (as the worker does)."""
    return vault.unseal(order_id, bytes(order_item(aws, order_id, program)["code_ciphertext"].value))


def of_type(aws, kind: str) -> list[dict]:
    return [i for i in all_items(aws) if i.get("type") == kind]


# --- the stream and the outbox relay ---------------------------------------------------------------


def enable_stream(aws) -> None:
    """The table's StreamSpecification from template.yaml (conftest creates the table without it)."""
    spec = template.resources()["Table"]["Properties"]["StreamSpecification"]
    aws.update_table(TableName="flexigift-test", StreamSpecification={"StreamEnabled": True, **spec})


def _relay_event_props() -> dict:
    return template.functions()["RelayOutboxFunction"].events["Outbox"]["Properties"]


def stream_events(aws, rewards) -> list[dict]:
    """The table's stream records not read yet, as Lambda's event records. moto's DynamoDB Streams backend
    is asked directly: in process (mock_aws) its HTTP API answers 404 'Not yet implemented' to the
    dynamodbstreams client, while moto's server (the local stack) answers it; both read the same shard."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    streams = dynamodbstreams_backends["123456789012"]["us-east-1"]
    arn = aws.describe_table(TableName="flexigift-test")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(arn)["Shards"][0]["ShardId"]
    after = getattr(rewards, "stream_position", None)
    iterator = streams.get_shard_iterator(arn, shard, "AFTER_SEQUENCE_NUMBER", int(after)) if after else \
        streams.get_shard_iterator(arn, shard, "TRIM_HORIZON")
    records = streams.get_records(iterator.arn, 1000)["Records"]
    if records:
        rewards.stream_position = records[-1]["dynamodb"]["SequenceNumber"]
    return stream_records(copy.deepcopy(records), arn)["Records"]


def outbox_events(aws, rewards) -> list[dict]:
    """The new stream records that the relay's event source mapping passes (its FilterCriteria)."""
    patterns = filter_patterns(_relay_event_props())
    return [r for r in stream_events(aws, rewards) if any(matches(p, r) for p in patterns)]


def _outbox_items_as_records(rewards) -> list[dict]:
    """For a table created without its stream (other modules' fixtures): the outbox items not relayed yet, as
    the INSERT records the stream would carry (a Scan: tests only)."""
    from boto3.dynamodb.types import TypeSerializer

    seen = rewards.__dict__.setdefault("relayed_outbox", set())
    fresh = [i for i in of_type(rewards.dynamodb, "OUTBOX") if i["PK"] not in seen]
    seen.update(i["PK"] for i in fresh)
    image = [{k: TypeSerializer().serialize(v) for k, v in i.items()} for i in fresh]
    return [{"eventID": uuid.uuid4().hex, "eventName": "INSERT", "eventSource": "aws:dynamodb",
             "dynamodb": {"Keys": {"PK": i["PK"], "SK": i["SK"]}, "NewImage": i, "SequenceNumber": str(n + 1),
                          "StreamViewType": "NEW_IMAGE"}} for n, i in enumerate(image)]


def queued(rewards) -> list[dict]:
    """What the delivery queue holds once the relay has run on the stream's new records."""
    relay_outbox(rewards)
    return rewards.receive(rewards.queue_url)


def relay_outbox(rewards) -> dict:
    """One run of the relay's event source mapping: the new outbox records, given to the relay handler."""
    has_stream = "LatestStreamArn" in rewards.dynamodb.describe_table(TableName="flexigift-test")["Table"]
    records = outbox_events(rewards.dynamodb, rewards) if has_stream else _outbox_items_as_records(rewards)
    if not records:
        return {"batchItemFailures": []}
    return handler("relay_outbox")({"Records": records}, FakeContext())


def sqs_event(messages: list[dict], queue_url: str) -> dict:
    """The event Lambda's SQS event source builds from received messages."""
    arn = "arn:aws:sqs:us-east-1:123456789012:" + queue_url.rsplit("/", 1)[1]
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "attributes": m.get("Attributes", {}), "messageAttributes": {},
                         "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": arn,
                         "awsRegion": "us-east-1"} for m in messages]}


def pump(rewards, queue_url: str, module: str) -> tuple[list[dict], dict]:
    """One poll of a queue by its function, as the event source mapping does: receive a batch, invoke,
    delete the records the function did not report as failed. The delivery queue gets what the outbox
    holds first (the relay runs on the stream as soon as a record is written)."""
    if queue_url == rewards.queue_url:
        relay_outbox(rewards)
    messages = rewards.receive(queue_url)
    if not messages:
        return [], {"batchItemFailures": []}
    result = handler(module)(sqs_event(messages, queue_url), FakeContext())
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            rewards.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages, result


def parts(raw_email: Any) -> tuple[Message, str, str]:
    message = email.message_from_string(raw_email.raw_data)
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()
    return message, text, html


def everything_stored_as_text(aws) -> str:
    return "\n".join(repr(item) for item in all_items(aws))


def assert_error(body: dict, status_code: str) -> None:
    assert body["status"] == "error" and body["error"]["code"] == status_code and body["error"]["message"]


# --- ordering with API delivery ------------------------------------------------------------------


class TestApiDelivery:
    def test_the_seed_sample_order_answers_the_seed_shape(self, aws, catalog):
        """Given the catalog, when the seed's sample order {reward_id 27222, amount 1} is placed (no
        delivery_method, no address), then it is delivered in the answer: the seed's fields and JSON
        types, reward_amount "1", a 4x4 code, a 4-digit PIN, plus the order id."""
        status, answer, headers = order(SEED_ORDER)
        assert status == 201
        assert list(answer) == ["status", "request_id", "order_status", "reward", "order_id"]
        assert answer["status"] == "success" and answer["order_status"] == "complete"
        reward = answer["reward"]
        assert {name: type(reward[name]) for name in reward} == SEED_REWARD_FIELDS
        assert reward["reward_id"] == 27222 and reward["reward_amount"] == "1" and reward["currency"] == "USD"
        assert reward["reward_type"] == "codePin"
        assert CODE_PATTERN.fullmatch(reward["reward_code"]) and re.fullmatch(r"\d{4}", reward["reward_pin"])
        assert reward["valid_till"] == valid_till("10 Years", datetime.now(timezone.utc).date()).isoformat()
        assert headers["Cache-Control"] == "no-store"
        assert queued(catalog) == []  # nothing to email

    def test_the_code_is_stored_sealed_and_nowhere_in_clear(self, aws, catalog):
        """Given an API order, then its item holds KMS ciphertext that opens to the answered code and PIN,
        the last 4 characters, and neither the code nor the PIN in clear anywhere in the table."""
        answer = placed({**SEED_ORDER, "delivery_method": 1})
        code, pin = answer["reward"]["reward_code"], answer["reward"]["reward_pin"]
        item = order_item(aws, answer["order_id"])
        assert item["code_last4"] == code[-4:] and item["delivery_status"] == "delivered"
        assert code_of(aws, answer["order_id"]) == (code, pin)
        everything = everything_stored_as_text(aws)
        assert code not in everything and code.replace("-", "") not in everything
        assert f"'{pin}'" not in everything and pin.encode() not in bytes(item["code_ciphertext"].value)

    def test_valid_till_follows_the_items_expiration(self, aws, catalog):
        answer = placed({"reward_id": 27234, "amount": 10, "delivery_method": 1})
        today = datetime.now(timezone.utc).date()
        assert answer["reward"]["valid_till"] == valid_till("24 Months", today).isoformat()
        assert date.fromisoformat(answer["reward"]["valid_till"]).year == today.year + 2

    def test_each_order_gets_its_own_code(self, aws, catalog):
        codes = {placed({**SEED_ORDER, "delivery_method": 1})["reward"]["reward_code"] for _ in range(5)}
        assert len(codes) == 5

    @pytest.mark.parametrize("body, field", [
        ({"reward_id": 99999, "amount": 10}, "reward_id"),        # not in the catalog
        ({"reward_id": 27399, "amount": 10}, "reward_id"),        # in the feed, unavailable
        ({"reward_id": 27234, "amount": 4}, "amount"),            # open value below min_value 5
        ({"reward_id": 27234, "amount": 2001}, "amount"),         # above max_value 2000
        ({"reward_id": 27251, "amount": 7}, "amount"),            # fixed value: 5, 10, 25, 50 only
        ({"reward_id": 27234, "amount": 0}, "amount"),
        ({"reward_id": 27234, "amount": "10"}, "amount"),         # a string is not an integer
        ({"reward_id": 27234, "amount": 10.5}, "amount"),
        ({"reward_id": 27234, "amount": True}, "amount"),
        ({"reward_id": "27234", "amount": 10}, "reward_id"),
        ({"amount": 10}, "reward_id"),
        ({"reward_id": 27234, "amount": 10, "delivery_method": 4}, "delivery_method"),
        ({"reward_id": 27234, "amount": 10, "delivery_method": 3}, "body"),           # into a wallet: whose?
        ({"reward_id": 27234, "amount": 10, "user_id": "user006"}, "body"),           # a user without method 3
        ({"reward_id": 27234, "amount": 10, "delivery_method": 2}, "delivery_email"),
        ({"reward_id": 27234, "amount": 10, "delivery_method": 2, "delivery_email": "nope"}, "delivery_email"),
        ({"reward_id": 27234, "amount": 10, "colour": "red"}, "colour"),
    ])
    def test_invalid_orders_are_refused_naming_the_field_and_store_nothing(self, aws, catalog, body, field):
        status, answer, _ = order(body)
        # an unknown reward is a 404; an unavailable one, or an amount the catalog's item does not offer now, 409
        expected = 404 if body.get("reward_id") == 99999 else 409 if body.get("reward_id") in (27399, 27251) or (
            body.get("reward_id") == 27234 and body.get("amount") in (4, 2001)) else 422
        assert status == expected, answer
        assert answer["error"]["fields"][0]["field"] == field
        assert not [i for i in all_items(aws) if i.get("type") == "REWARD_ORDER"]

    def test_bounds_and_listed_denominations_are_accepted(self, aws, catalog):
        for body in ({"reward_id": 27234, "amount": 5}, {"reward_id": 27234, "amount": 2000},
                     {"reward_id": 27251, "amount": 10}):
            assert order({**body, "delivery_method": 1})[0] == 201, body

    def test_ordering_needs_the_rewards_order_scope(self, aws, catalog):
        status, answer, _ = order(SEED_ORDER, scopes="rewards:read")
        assert status == 403 and "rewards:order" in answer["error"]["message"]
        assert not [i for i in all_items(aws) if i.get("type") == "REWARD_ORDER"]


class TestPrograms:
    def test_a_program_without_email_refuses_method_2_and_defaults_to_1(self, aws, catalog):
        """Given program 'acme' that allows API delivery only, when it orders by email, then 403 says so;
        without delivery_method, even with an address, the reward comes in the answer."""
        configure_program("acme", [1])
        status, answer, _ = order(EMAIL_ORDER, program="acme")
        assert status == 403
        assert_error(answer, "forbidden")
        assert "acme" in answer["error"]["message"] and "delivery_method 2" in answer["error"]["message"]
        answer = placed({"reward_id": 27234, "amount": 25, "delivery_email": JACK}, program="acme")
        assert answer["order_status"] == "complete" and answer["reward"]["reward_code"]

    def test_an_email_only_program_defaults_to_email_and_refuses_method_1(self, aws, catalog):
        configure_program("mailers", [2])
        assert order({**SEED_ORDER, "delivery_method": 1}, program="mailers")[0] == 403
        answer = placed({**SEED_ORDER, "delivery_email": JACK}, program="mailers")
        assert answer["order_status"] == "pending" and "reward" not in answer
        status, answer, _ = order(SEED_ORDER, program="mailers")  # email-only, no address
        assert status == 422 and answer["error"]["fields"][0]["field"] == "delivery_email"

    def test_the_default_program_allows_both_and_prefers_email_when_given_an_address(self, aws, catalog):
        assert stored(aws, "PROGRAM#default", "PROGRAM") is None
        assert placed({**SEED_ORDER, "delivery_email": JACK})["order_status"] == "pending"
        assert placed(SEED_ORDER)["order_status"] == "complete"

    def test_an_unconfigured_program_cannot_order(self, aws, catalog):
        status, answer, _ = order(SEED_ORDER, program="ghost")
        assert status == 403 and "not set up" in answer["error"]["message"]


# --- email delivery ------------------------------------------------------------------------------


class TestEmailDelivery:
    def test_an_email_order_is_pending_and_its_outbox_record_queues_only_its_ids(self, aws, catalog):
        """Given an email order, then the answer is pending with the order id and no code; the request
        itself queued nothing (no SQS call in the request path) but wrote one outbox record; the relay
        turns it into one message naming program, order and round, and nothing secret."""
        status, answer, _ = order(EMAIL_ORDER)
        assert status == 201
        assert answer == {"status": "success", "request_id": answer["request_id"], "order_status": "pending",
                          "order_id": answer["order_id"]}
        assert catalog.receive(catalog.queue_url) == []
        [outbox] = of_type(aws, "OUTBOX")
        assert outbox["PK"] == f"P#default#OUTBOX#reward_email#{answer['order_id']}#1"
        assert (outbox["program_id"], outbox["order_id"], outbox["delivery_round"]) == ("default", answer["order_id"], 1)
        assert outbox["expires_at"] > 0 and JACK not in repr(outbox)
        assert relay_outbox(catalog) == {"batchItemFailures": []}
        messages = queued(catalog)
        assert len(messages) == 1
        assert json.loads(messages[0]["Body"]) == {"program_id": "default", "order_id": answer["order_id"],
                                                   "delivery_round": 1}
        code, pin = code_of(aws, answer["order_id"])
        assert code not in messages[0]["Body"] and JACK not in messages[0]["Body"]
        item = order_item(aws, answer["order_id"])
        assert item["delivery_status"] == "queued" and item["order_status"] == "pending"

    def test_the_worker_sends_one_email_with_everything_and_marks_the_order_delivered(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        _, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert result == {"batchItemFailures": []}
        sent = catalog.sent_emails()
        assert len(sent) == 1
        message, text, html = parts(sent[0])
        code, pin = code_of(aws, answer["order_id"])
        item = order_item(aws, answer["order_id"])
        assert message["To"] == JACK and message["From"] == catalog.sender
        assert "Lowes eGift Voucher" in message["Subject"] and "25 USD" in message["Subject"]
        for body in (text, html):
            for expected in (code, pin, item["valid_till"], "25 USD", "Lowes eGift Voucher", "gift card number"):
                assert expected in body, expected
        assert html.lstrip().startswith("<!doctype html>")
        assert item["delivery_status"] == "delivered" and item["order_status"] == "complete"
        assert item["delivered_at"] and item["attempts"] == 1
        assert queued(catalog) == []

    def test_the_same_message_twice_sends_one_email(self, aws, catalog):
        """Given a delivery message, when the worker gets it twice (SQS delivers at least once), then
        exactly one email is sent and both invocations succeed."""
        placed(EMAIL_ORDER)
        messages = queued(catalog)
        event = sqs_event(messages, catalog.queue_url)
        first = handler("deliver_reward_emails")(event, FakeContext())
        second = handler("deliver_reward_emails")(copy.deepcopy(event), FakeContext())
        assert first == second == {"batchItemFailures": []}
        assert len(catalog.sent_emails()) == 1

    def test_a_message_caught_mid_send_is_retried_not_sent_again(self, aws, catalog):
        """Given an order another worker is sending ('sending'), when its message arrives, then it is
        reported failed for a later retry and no email is sent now."""
        answer = placed(EMAIL_ORDER)
        set_delivery_status(aws, answer["order_id"], "sending")
        messages, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [messages[0]["MessageId"]]
        assert catalog.sent_emails() == []

    def test_an_ses_failure_is_reported_for_that_record_only(self, aws, catalog):
        """Given a batch with a duplicate of a delivered order and a new order, when SES refuses to send
        (the sender is no longer verified), then only the new order's record is in batchItemFailures,
        and that order is back to 'queued' with the error."""
        delivered = placed(EMAIL_ORDER)
        messages, _ = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)
        pending = placed({**EMAIL_ORDER, "amount": 50})
        fresh = queued(catalog)
        result = handler("deliver_reward_emails")(sqs_event(messages + fresh, catalog.queue_url), FakeContext())
        assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [fresh[0]["MessageId"]]
        item = order_item(aws, pending["order_id"])
        assert item["delivery_status"] == "queued" and "MessageRejected" in item["last_error"]
        assert order_item(aws, delivered["order_id"])["delivery_status"] == "delivered"
        assert len(catalog.sent_emails()) == 1

    def test_after_three_failed_tries_the_dlq_handler_marks_the_order_failed_and_resend_recovers(self, aws, catalog):
        """Given SES refusing, when the message has been tried maxReceiveCount (3) times, then it moves to
        the dead-letter queue, whose handler marks the order failed with the reason; once SES works
        again, a resend delivers it: nothing was lost."""
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)
        answer = placed(EMAIL_ORDER)
        for _ in range(3):
            messages, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
            assert len(messages) == 1 and len(result["batchItemFailures"]) == 1
        assert queued(catalog) == []  # the 4th receive moved it to the DLQ
        dead, result = pump(catalog, catalog.dlq_url, "fail_reward_deliveries")
        assert len(dead) == 1 and result == {"batchItemFailures": []}
        item = order_item(aws, answer["order_id"])
        assert item["order_status"] == "failed" and item["delivery_status"] == "failed"
        assert "3 attempt(s)" in item["failure_reason"] and "MessageRejected" in item["failure_reason"]
        _, shown, _ = orders_api("get_reward_order", order_id=answer["order_id"])
        assert shown["order"]["order_status"] == "failed" and shown["order"]["failure_reason"]

        catalog.sesv2.create_email_identity(EmailIdentity=catalog.sender)
        status, resent, _ = orders_api("resend_reward_order", order_id=answer["order_id"], body={})
        assert status == 202 and resent["order"]["order_status"] == "pending"
        pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert len(catalog.sent_emails()) == 1
        item = order_item(aws, answer["order_id"])
        assert item["delivery_status"] == "delivered" and item["delivery_round"] == 2 and "failure_reason" not in item

    def test_a_dead_letter_never_undoes_a_delivery(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        messages = queued(catalog)
        handler("deliver_reward_emails")(sqs_event(messages, catalog.queue_url), FakeContext())
        result = handler("fail_reward_deliveries")(sqs_event(messages, catalog.dlq_url), FakeContext())
        assert result == {"batchItemFailures": []}
        assert order_item(aws, answer["order_id"])["delivery_status"] == "delivered"

    def test_a_dead_letter_of_an_order_stopped_mid_send_says_the_outcome_is_unknown(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        relay_outbox(catalog)
        messages = queued(catalog)
        set_delivery_status(aws, answer["order_id"], "sending")
        handler("fail_reward_deliveries")(sqs_event(messages, catalog.dlq_url), FakeContext())
        item = order_item(aws, answer["order_id"])
        assert item["order_status"] == "failed" and "may or may not" in item["failure_reason"]

    def test_unreadable_messages_fail_in_the_worker_and_are_dropped_by_the_dlq_handler(self, aws, catalog):
        catalog.sqs.send_message(QueueUrl=catalog.queue_url, MessageBody='{"code": "leak?"}')
        messages, result = pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert len(result["batchItemFailures"]) == 1
        result = handler("fail_reward_deliveries")(sqs_event(messages, catalog.dlq_url), FakeContext())
        assert result == {"batchItemFailures": []}


# --- the orders API ------------------------------------------------------------------------------


class TestOrdersApi:
    def test_an_order_shows_its_status_and_only_the_last_4_characters_of_the_code(self, aws, catalog):
        answer = placed({**SEED_ORDER, "delivery_method": 1})
        code = answer["reward"]["reward_code"]
        status, body, _ = orders_api("get_reward_order", order_id=answer["order_id"])
        assert status == 200 and body["status"] == "success" and body["request_id"]
        shown = body["order"]
        assert shown["order_id"] == answer["order_id"] and shown["reward_code_last4"] == code[-4:]
        assert shown["order_status"] == "complete" and shown["delivery_status"] == "delivered"
        assert shown["amount"] == 1 and shown["reward_amount"] == "1" and shown["delivery_method"] == 1
        text = json.dumps(body)
        assert code not in text and answer["reward"]["reward_pin"] not in text.replace(shown["created_at"], "")

    @pytest.mark.parametrize("order_id", ["ro_00000000000000000000", "nope", "ro_" + "g" * 20])
    def test_unknown_or_malformed_ids_are_404(self, aws, catalog, order_id):
        status, body, _ = orders_api("get_reward_order", order_id=order_id)
        assert status == 404
        assert_error(body, "not_found")

    def test_another_programs_order_is_404(self, aws, catalog):
        configure_program("acme", [1, 2])
        answer = placed(SEED_ORDER, program="acme")
        status, _, _ = orders_api("get_reward_order", order_id=answer["order_id"])
        assert status == 404
        assert orders_api("get_reward_order", order_id=answer["order_id"], program="acme")[0] == 200

    def test_the_list_is_newest_first_paginated_and_per_program(self, aws, catalog):
        made = [placed({**SEED_ORDER, "delivery_method": 1})["order_id"] for _ in range(5)]
        configure_program("acme", [1])
        placed(SEED_ORDER, program="acme")
        seen, query = [], {"limit": "2"}
        for _ in range(5):
            status, page, headers = orders_api("list_reward_orders", query=query)
            assert status == 200 and isinstance(page, list) and len(page) <= 2
            seen += [o["order_id"] for o in page]
            link = headers.get("Link")
            if not link:
                break
            assert link.endswith('rel="next"') and "/prod/rewards/orders?" in link
            query = {k: v[0] for k, v in parse_qs(urlsplit(link[1:link.index(">")]).query).items()}
        assert seen == list(reversed(made))
        assert all("reward_code" not in o for o in page)

    def test_a_cursor_from_another_listing_is_refused(self, aws, catalog):
        status, body, _ = orders_api("list_reward_orders", query={"cursor": "eyJQSyI6IlgifQ"})
        assert status == 400 and body["error"]["code"] == "invalid_cursor"


class TestResend:
    def deliver_all(self, rewards) -> None:
        pump(rewards, rewards.queue_url, "deliver_reward_emails")

    def test_a_failed_order_resent_to_a_corrected_address_sends_its_code_there(self, aws, catalog):
        """Given an order whose email failed, when it is resent to a corrected address, then the new round
        (its outbox record relayed) sends the same code there, and the change is recorded, masked."""
        answer = placed(EMAIL_ORDER)
        aws.update_item(TableName="flexigift-test", Key=order_key(answer["order_id"]),
                        UpdateExpression="SET delivery_status = :f, order_status = :f",
                        ExpressionAttributeValues={":f": {"S": "failed"}})
        relay_outbox(catalog)
        catalog.sqs.purge_queue(QueueUrl=catalog.queue_url)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"],
                                     body={"delivery_email": "jill@example.com"})
        assert status == 202 and body["order"]["delivery_email"] == "jill@example.com"
        assert body["order"]["resend_count"] == 1 and body["order"]["delivery_status"] == "queued"
        assert [(c["old_email"], c["new_email"]) for c in body["order"]["address_changes"]] == [
            ("j***@example.com", "j***@example.com")]
        messages = queued(catalog)
        assert json.loads(messages[0]["Body"]) == {"program_id": "default", "order_id": answer["order_id"],
                                                   "delivery_round": 2}
        handler("deliver_reward_emails")(sqs_event(messages, catalog.queue_url), FakeContext())
        sent = catalog.sent_emails()
        assert [parts(m)[0]["To"] for m in sent] == ["jill@example.com"]
        code, _ = code_of(aws, answer["order_id"])
        assert code in parts(sent[0])[1]  # the same code, not a new one

    def test_a_resend_without_a_body_keeps_the_address(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        self.deliver_all(catalog)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"], body=...,
                                     raw_body="")
        assert status == 202 and body["order"]["delivery_email"] == JACK

    def test_an_old_message_of_a_resent_order_sends_nothing(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        first = queued(catalog)
        handler("deliver_reward_emails")(sqs_event(first, catalog.queue_url), FakeContext())
        orders_api("resend_reward_order", order_id=answer["order_id"], body={})
        self.deliver_all(catalog)
        handler("deliver_reward_emails")(sqs_event(first, catalog.queue_url), FakeContext())  # round 1 again
        assert len(catalog.sent_emails()) == 2

    def test_api_orders_and_orders_in_delivery_cannot_be_resent(self, aws, catalog):
        api_order = placed({**SEED_ORDER, "delivery_method": 1})
        status, body, _ = orders_api("resend_reward_order", order_id=api_order["order_id"], body={})
        assert status == 409 and "email" in body["error"]["message"]
        queued = placed(EMAIL_ORDER)
        status, body, _ = orders_api("resend_reward_order", order_id=queued["order_id"], body={})
        assert status == 409 and "still being delivered" in body["error"]["message"]
        assert order_item(aws, queued["order_id"])["delivery_round"] == 1

    def test_more_than_three_resends_an_hour_is_429_with_retry_after(self, aws, catalog):
        """Given an order resent 3 times this hour, when resent a 4th time, then 429 with Retry-After and
        no new round and no message: the counter refused it in the same transaction."""
        answer = placed(EMAIL_ORDER)
        self.deliver_all(catalog)
        for _ in range(3):
            assert orders_api("resend_reward_order", order_id=answer["order_id"], body={})[0] == 202
            self.deliver_all(catalog)
        status, body, headers = orders_api("resend_reward_order", order_id=answer["order_id"], body={})
        assert status == 429
        assert_error(body, "too_many_requests")
        assert 1 <= int(headers["Retry-After"]) <= 3600
        item = order_item(aws, answer["order_id"])
        assert item["delivery_round"] == 4 and item["delivery_status"] == "delivered"
        assert queued(catalog) == []
        counters = [i for i in all_items(aws) if i["SK"].startswith("RESENDS#")]
        assert len(counters) == 1 and counters[0]["resends"] == 3 and counters[0]["expires_at"] > 0

    def test_a_bad_corrected_address_is_422(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        self.deliver_all(catalog)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"],
                                     body={"delivery_email": "not-an-address"})
        assert status == 422 and body["error"]["fields"][0]["field"] == "delivery_email"


# --- idempotency ---------------------------------------------------------------------------------


class TestIdempotency:
    def test_a_retry_with_the_same_key_and_body_returns_the_first_answer_and_no_second_code(self, aws, catalog):
        """Given an API order placed with an Idempotency-Key, when the same request is sent again, then
        the answer is the first one (same order, code, request_id), marked as a replay, and there is one
        order; the key's claim (in the program's partition, with its TTL) holds the request's hash and the
        order id, and no code."""
        status, first, first_headers = order(SEED_ORDER, key="retry-1")
        status2, second, headers = order(SEED_ORDER, key="retry-1")
        assert status == status2 == 201
        assert second == first and headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first_headers
        assert len(of_type(aws, "REWARD_ORDER")) == 1
        [claim] = of_type(aws, "IDEMPOTENCY")
        assert claim["PK"] == "P#default#IDEMPOTENCY#reward_order#retry-1"
        assert claim["order_id"] == first["order_id"] and len(claim["request_hash"]) == 64
        assert claim["expires_at"] > 0
        assert first["reward"]["reward_code"] not in everything_stored_as_text(aws)

    def test_the_same_key_with_another_body_is_refused(self, aws, catalog):
        placed(SEED_ORDER, key="retry-2")
        status, body, _ = order({**SEED_ORDER, "amount": 2}, key="retry-2")
        assert status == 422
        assert_error(body, "idempotency_key_reused")
        assert body["error"]["fields"][0]["field"] == "Idempotency-Key"
        assert len([i for i in all_items(aws) if i.get("type") == "REWARD_ORDER"]) == 1

    def test_an_email_order_retried_is_queued_once(self, aws, catalog):
        first = placed(EMAIL_ORDER, key="retry-3")
        assert placed(EMAIL_ORDER, key="retry-3") == first
        assert len(queued(catalog)) == 1

    def test_keys_belong_to_the_program(self, aws, catalog):
        """Given a key used by one API key of a program, then another API key of that program retrying with
        it gets the same order; another program's same key is its own."""
        first = placed(SEED_ORDER, key="shared-name")
        assert placed(SEED_ORDER, key="shared-name", key_id="key_other") == first
        configure_program("acme", [1])
        other = placed(SEED_ORDER, key="shared-name", program="acme")
        assert other["order_id"] != first["order_id"]

    def test_a_refused_request_does_not_use_up_its_key(self, aws, catalog):
        status, _, _ = order({"reward_id": 27234, "amount": 1}, key="retry-4")  # below min_value: 409
        assert status == 409
        assert order({"reward_id": 27234, "amount": 5}, key="retry-4")[0] == 201

    def test_an_empty_key_is_no_key_as_for_payments(self, aws, catalog):
        assert order(SEED_ORDER, key="")[0] == order(SEED_ORDER, key="")[0] == 201
        assert len(of_type(aws, "REWARD_ORDER")) == 2 and of_type(aws, "IDEMPOTENCY") == []

    @pytest.mark.parametrize("key", ["has space", "x" * 256])
    def test_a_malformed_key_is_422(self, aws, catalog, key):
        status, body, _ = order(SEED_ORDER, key=key)
        assert status == 422 and body["error"]["fields"][0]["field"] == "Idempotency-Key"


class TestSampleEvents:
    def test_every_rewards_sample_event_runs(self, aws, catalog):
        """Given the catalog and the sample events' order id, when each rewards sample event in events/
        is invoked, then none fails."""
        status, answer, _ = call("create_reward_order", load_event("create_reward_order"))
        assert status == 201
        status, body, _ = call("list_reward_orders", load_event("list_reward_orders"))
        assert status == 200 and len(body) == 1
        status, body, _ = call("get_rewards_catalog", load_event("get_rewards_catalog"))
        assert status == 200 and body["catalog"]
        for module in ("deliver_reward_emails", "fail_reward_deliveries"):
            result = handler(module)(load_event(module), FakeContext())
            assert result == {"batchItemFailures": []}  # its order does not exist here: nothing to do
        status, body, _ = call("get_reward_order", load_event("get_reward_order"))
        assert status == 404
        status, body, _ = call("resend_reward_order", load_event("resend_reward_order"))
        assert status == 404
