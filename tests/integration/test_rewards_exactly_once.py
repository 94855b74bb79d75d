"""Reward orders exactly once, whatever line a function dies at: the order, its Idempotency-Key's claim and
its outbox record commit in one transaction; the stream's relay queues the email; the worker and the
dead-letter handler leave no order queued. Also: codes go where they were sent (resend address rules), and
another program's order is a 404 indistinguishable from a missing one. Against moto, through the handlers."""

from __future__ import annotations

import json

import pytest

from flexigift.logic import place_order as placing
from flexigift.logic.programs import configure_program
from flexigift.store.table import Transaction
from tests.integration import test_rewards_orders
from tests.integration.test_rewards_orders import (
    EMAIL_ORDER,
    JACK,
    code_of,
    of_type,
    order,
    order_item,
    orders_api,
    outbox_events,
    parts,
    placed,
    pump,
    queued,
    relay_outbox,
    set_delivery_status,
)
from tests.rewards_support import SEED_ORDER
from tests.support import FakeContext, handler

catalog = test_rewards_orders.catalog  # the fixture: the table's stream on, the sample feed in the catalog

API_ORDER = {**SEED_ORDER, "delivery_method": 1}


class Crash(BaseException):
    """The function died here (a BaseException, as a killed process: no handler answers for it)."""


def counts(aws) -> tuple[int, int, int]:
    return len(of_type(aws, "REWARD_ORDER")), len(of_type(aws, "IDEMPOTENCY")), len(of_type(aws, "OUTBOX"))


class TestSameKeyTwice:
    def test_an_email_order_twice_is_one_order_one_code_one_claim_one_outbox_record_one_message(self, aws, catalog):
        first = placed(EMAIL_ORDER, key="twice-1")
        status, again, headers = order(EMAIL_ORDER, key="twice-1")
        assert status == 201 and again == first and headers["Idempotent-Replayed"] == "true"
        assert counts(aws) == (1, 1, 1)
        assert len(queued(catalog)) == 1

    def test_an_api_order_twice_answers_the_same_code_opened_again(self, aws, catalog):
        first = placed(API_ORDER, key="twice-2")
        again = placed(API_ORDER, key="twice-2")
        assert again["reward"] == first["reward"] and again["order_id"] == first["order_id"]
        assert code_of(aws, first["order_id"])[0] == first["reward"]["reward_code"]
        assert counts(aws) == (1, 1, 0)


class TestCrashes:
    @pytest.mark.parametrize("body, dies_in", [
        (API_ORDER, "_count_and_log"),   # after the commit, before the answer is built
        (API_ORDER, "answer_for"),       # while the answer (the unsealed code) is built
        (EMAIL_ORDER, "_count_and_log"),
    ])
    def test_a_function_dying_after_the_commit_is_replayed_by_the_retry_with_no_second_code(
            self, aws, catalog, monkeypatch, body, dies_in):
        """Given a request that commits its order and then dies (no answer reaches the caller), when the
        caller retries with the same key, then it gets the order that was committed (same order, same
        code), marked as a replay, and there is still one order, one claim and at most one outbox record."""
        real = getattr(placing, dies_in)

        def die(*args, **kwargs):
            raise Crash(dies_in)

        monkeypatch.setattr(placing, dies_in, die)
        with pytest.raises(Crash):
            order(body, key="crash-1")
        monkeypatch.setattr(placing, dies_in, real)
        committed = of_type(aws, "REWARD_ORDER")
        assert len(committed) == 1

        status, answer, headers = order(body, key="crash-1")
        assert status == 201 and headers["Idempotent-Replayed"] == "true"
        assert answer["order_id"] == committed[0]["order_id"]
        if "reward" in answer:
            assert answer["reward"]["reward_code"] == code_of(aws, answer["order_id"])[0]
        assert counts(aws) == (1, 1, 1 if body is EMAIL_ORDER else 0)

    def test_a_commit_whose_answer_is_lost_is_replayed(self, aws, catalog, monkeypatch):
        """Given DynamoDB applying the transaction and the function dying before it hears so, when the
        request is retried, then the claim is found: one order, the first code."""
        real_commit = Transaction.commit

        def commit_then_die(tx):
            real_commit(tx)
            raise Crash("after TransactWriteItems")

        monkeypatch.setattr(Transaction, "commit", commit_then_die)
        with pytest.raises(Crash):
            order(API_ORDER, key="crash-2")
        monkeypatch.setattr(Transaction, "commit", real_commit)
        answer = placed(API_ORDER, key="crash-2")
        assert answer["reward"]["reward_code"] == code_of(aws, answer["order_id"])[0]
        assert counts(aws) == (1, 1, 0)

    def test_a_function_dying_before_the_commit_leaves_nothing_and_the_retry_orders_once(self, aws, catalog,
                                                                                         monkeypatch):
        real_commit = Transaction.commit
        monkeypatch.setattr(Transaction, "commit", lambda tx: (_ for _ in ()).throw(Crash("before")))
        with pytest.raises(Crash):
            order(EMAIL_ORDER, key="crash-3")
        assert counts(aws) == (0, 0, 0)
        monkeypatch.setattr(Transaction, "commit", real_commit)
        placed(EMAIL_ORDER, key="crash-3")
        placed(EMAIL_ORDER, key="crash-3")
        assert counts(aws) == (1, 1, 1)

    def test_an_email_order_whose_function_died_after_the_commit_is_still_delivered(self, aws, catalog, monkeypatch):
        """Given an email order committed by a function that then died (no retry ever comes), then its outbox
        record is on the stream anyway: the relay queues it and the worker delivers it."""
        monkeypatch.setattr(placing, "_count_and_log", lambda record: (_ for _ in ()).throw(Crash("after")))
        with pytest.raises(Crash):
            order(EMAIL_ORDER)
        [committed] = of_type(aws, "REWARD_ORDER")
        pump(catalog, catalog.queue_url, "deliver_reward_emails")
        assert order_item(aws, committed["order_id"])["delivery_status"] == "delivered"
        assert len(catalog.sent_emails()) == 1


class TestConcurrentDuplicates:
    def test_a_transaction_cancelled_by_the_winners_claim_answers_the_winners_order(self, aws, catalog, monkeypatch):
        """Given two requests with one key that both read 'no claim' (the second read before the first
        committed), when the second commits, then its transaction is cancelled by the claim's condition,
        nothing of it is written (its code is never stored) and it answers the winner's order."""
        winner = placed(API_ORDER, key="race-1")
        real_inputs = placing.store.get_order_inputs
        monkeypatch.setattr(placing.store, "get_order_inputs",
                            lambda program, reward, claim_key, user_id=None: (
                                *real_inputs(program, reward, claim_key, user_id)[:2], None, None))
        status, loser, headers = order(API_ORDER, key="race-1")
        assert status == 201 and headers["Idempotent-Replayed"] == "true"
        assert loser == winner
        assert counts(aws) == (1, 1, 0)

    def test_a_loser_with_another_body_is_refused(self, aws, catalog, monkeypatch):
        placed(API_ORDER, key="race-2")
        real_inputs = placing.store.get_order_inputs
        monkeypatch.setattr(placing.store, "get_order_inputs",
                            lambda program, reward, claim_key, user_id=None: (
                                *real_inputs(program, reward, claim_key, user_id)[:2], None, None))
        status, body, _ = order({**API_ORDER, "amount": 2}, key="race-2")
        assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
        assert counts(aws) == (1, 1, 0)

    def test_a_cancelled_transaction_leaves_nothing_on_the_stream(self, aws, catalog, monkeypatch):
        """moto, as DynamoDB: the loser's cancelled transaction puts no record on the stream, so the relay
        never sees an outbox record of an order that does not exist."""
        placed(EMAIL_ORDER, key="race-3")
        assert len(outbox_events(aws, catalog)) == 1
        real_inputs = placing.store.get_order_inputs
        monkeypatch.setattr(placing.store, "get_order_inputs",
                            lambda program, reward, claim_key, user_id=None: (
                                *real_inputs(program, reward, claim_key, user_id)[:2], None, None))
        placed(EMAIL_ORDER, key="race-3")
        assert outbox_events(aws, catalog) == []


class TestRelay:
    def test_an_outbox_stream_record_becomes_one_message_and_nothing_else_passes_the_filter(self, aws, catalog):
        """Given an email order (three items in one transaction: order, claim, outbox record), then the
        stream holds an INSERT for each, the template's filter passes only the outbox record, and the relay
        handler turns it into exactly one delivery message."""
        answer = placed(EMAIL_ORDER, key="relay-1")
        events = outbox_events(aws, catalog)
        assert [(e["eventName"], e["dynamodb"]["NewImage"]["type"]["S"]) for e in events] == [("INSERT", "OUTBOX")]
        result = handler("relay_outbox")({"Records": events}, FakeContext())
        assert result == {"batchItemFailures": []}
        [message] = catalog.receive(catalog.queue_url)
        assert json.loads(message["Body"]) == {"program_id": "default", "order_id": answer["order_id"],
                                               "delivery_round": 1}

    def test_a_record_sqs_refuses_is_reported_for_retry_by_its_sequence_number(self, aws, catalog, monkeypatch):
        placed(EMAIL_ORDER)
        events = outbox_events(aws, catalog)
        monkeypatch.setattr("flexigift.delivery.outbox.enqueue_delivery",
                            lambda message: (_ for _ in ()).throw(RuntimeError("SQS unavailable")))
        result = handler("relay_outbox")({"Records": events}, FakeContext())
        assert result == {"batchItemFailures": [{"itemIdentifier": events[0]["dynamodb"]["SequenceNumber"]}]}

    def test_the_sample_event_relays_one_message(self, aws, catalog):
        from tests.support import load_event

        assert handler("relay_outbox")(load_event("relay_outbox"), FakeContext()) == {"batchItemFailures": []}
        [message] = catalog.receive(catalog.queue_url)
        assert json.loads(message["Body"])["order_id"] == "ro_0123456789abcdef0123"


class TestNoOrderStaysQueued:
    def deliver_until_settled(self, catalog, rounds: int = 6) -> None:
        for _ in range(rounds):
            pump(catalog, catalog.queue_url, "deliver_reward_emails")
            pump(catalog, catalog.dlq_url, "fail_reward_deliveries")

    def test_refused_stuck_and_normal_orders_all_end_delivered_or_failed_and_a_failed_one_is_resent(
            self, aws, catalog):
        """Given three email orders: one the worker delivers, one whose worker died while sending (left
        'sending'), and one SES refuses, when the queue and its dead-letter queue have been worked, then
        none is queued or sending: delivered, failed ('may or may not'), failed (SES's reason); a resend
        of a failed one delivers it once SES works."""
        normal = placed(EMAIL_ORDER)
        relay_outbox(catalog)
        stuck = placed({**EMAIL_ORDER, "amount": 50})
        relay_outbox(catalog)
        set_delivery_status(aws, stuck["order_id"], "sending")   # its worker died between claim and send
        self.deliver_until_settled(catalog, rounds=1)
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)
        refused = placed({**EMAIL_ORDER, "amount": 10})
        self.deliver_until_settled(catalog)
        statuses = {o["order_id"]: (o["delivery_status"], o.get("failure_reason", "")) for o in of_type(aws, "REWARD_ORDER")}
        assert statuses[normal["order_id"]][0] == "delivered"
        assert statuses[stuck["order_id"]][0] == "failed" and "may or may not" in statuses[stuck["order_id"]][1]
        assert statuses[refused["order_id"]][0] == "failed" and "MessageRejected" in statuses[refused["order_id"]][1]
        assert not [s for s, _ in statuses.values() if s in ("queued", "sending")]

        catalog.sesv2.create_email_identity(EmailIdentity=catalog.sender)
        assert orders_api("resend_reward_order", order_id=refused["order_id"], body={})[0] == 202
        self.deliver_until_settled(catalog, rounds=1)
        assert order_item(aws, refused["order_id"])["delivery_status"] == "delivered"
        assert len(catalog.sent_emails()) == 2   # normal's and the resent one; never the stuck one twice


class TestResendAddresses:
    def deliver(self, catalog) -> None:
        pump(catalog, catalog.queue_url, "deliver_reward_emails")

    def test_a_delivered_order_is_not_resent_to_another_address(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        self.deliver(catalog)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"],
                                     body={"delivery_email": "mallory@example.net"})
        assert status == 409 and body["error"]["fields"][0]["type"] == "address_locked"
        assert "j***@example.com" in body["error"]["message"] and JACK not in body["error"]["message"]
        item = order_item(aws, answer["order_id"])
        assert item["delivery_round"] == 1 and item["delivery_email"] == JACK and "address_changes" not in item
        assert len(of_type(aws, "OUTBOX")) == 1

    def test_a_delivered_order_is_resent_to_its_own_address_in_any_letter_case(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        self.deliver(catalog)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"],
                                     body={"delivery_email": JACK.upper()})
        assert status == 202 and body["order"]["delivery_email"] == JACK and body["order"]["address_changes"] == []
        self.deliver(catalog)
        assert [parts(m)[0]["To"] for m in catalog.sent_emails()] == [JACK, JACK]
        assert len(of_type(aws, "OUTBOX")) == 2   # one record per round

    def test_a_failed_orders_new_address_is_recorded_masked_by_the_key_that_changed_it(self, aws, catalog):
        answer = placed(EMAIL_ORDER)
        catalog.sesv2.delete_email_identity(EmailIdentity=catalog.sender)
        for _ in range(4):
            pump(catalog, catalog.queue_url, "deliver_reward_emails")
        pump(catalog, catalog.dlq_url, "fail_reward_deliveries")
        assert order_item(aws, answer["order_id"])["delivery_status"] == "failed"
        catalog.sesv2.create_email_identity(EmailIdentity=catalog.sender)
        status, body, _ = orders_api("resend_reward_order", order_id=answer["order_id"],
                                     body={"delivery_email": "jack.j@example.org"})
        assert status == 202
        [change] = order_item(aws, answer["order_id"])["address_changes"]
        assert change["old_email"] == "j***@example.com" and change["new_email"] == "j***@example.org"
        assert change["key_id"] == "key_sample" and change["changed_at"]
        assert body["order"]["address_changes"] == [change]
        assert JACK not in repr(change) and "jack.j@example.org" not in repr(change)
        self.deliver(catalog)
        assert [parts(m)[0]["To"] for m in catalog.sent_emails()] == ["jack.j@example.org"]


class TestAnotherProgramsOrders:
    def test_get_resend_and_list_of_another_programs_order_are_as_for_a_missing_one(self, aws, catalog):
        configure_program("acme", [1, 2])
        theirs = placed(EMAIL_ORDER, program="acme")
        missing = "ro_" + "0" * 20
        for name, body in (("get_reward_order", ...), ("resend_reward_order", {})):
            status, answer, _ = orders_api(name, order_id=theirs["order_id"], body=body)
            status_missing, answer_missing, _ = orders_api(name, order_id=missing, body=body)
            assert status == status_missing == 404
            assert answer["error"] == {**answer_missing["error"],
                                       "message": answer_missing["error"]["message"].replace(missing, theirs["order_id"])}
        status, listed, _ = orders_api("list_reward_orders")
        assert status == 200 and listed == []
        assert orders_api("get_reward_order", order_id=theirs["order_id"], program="acme")[0] == 200
        item = order_item(aws, theirs["order_id"], program="acme")
        assert item["delivery_round"] == 1 and item["resend_count"] == 0   # the refused resend changed nothing
