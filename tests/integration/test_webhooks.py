"""Events and webhooks through the handlers against moto: events written in the transactions of their changes,
listed by the event indexer from the stream, GET /events, endpoints (the secret shown once and stored sealed), and
deliveries to a receiver on 127.0.0.1 made by the real worker from real SQS messages, the outbox relay and the
indexer each playing their stream's event source mapping."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from flexigift.webhooks import verify_signature
from tests.integration.conftest import TABLE, all_items, insert_records, stored, unlisted_events
from tests.integration.test_checkout import KOHLS_CARD, jack_with_cards, pay, refund
from tests.support import FakeContext, api_event, call, handler, load_event
from tests.webhook_receiver import Receiver

WEBHOOKS = "webhooks"


def as_program(event: dict, program: str, scopes: str = WEBHOOKS) -> dict:
    event["requestContext"]["authorizer"].update({"program_id": program, "scopes": scopes})
    return event


def create_endpoint(url: str, events: list[str] | None = None, program: str = "default") -> tuple[int, Any]:
    status, body, _ = call("create_webhook_endpoint", as_program(api_event(
        "create_webhook_endpoint", body={"url": url, "events": events or ["*"]}), program))
    return status, body


def index_events(items: list[dict[str, Any]]) -> dict:
    """The indexer's event source mapping: one batch of the events' INSERT records to IndexEventsFunction."""
    return handler("index_events")({"Records": insert_records(items)}, FakeContext())


def list_events(query: dict[str, str] | None = None, program: str = "default",
                index: bool = True) -> tuple[int, Any, dict]:
    """GET /events, once the indexer has listed what was written (the stream's batching window gone by)."""
    fresh = unlisted_events() if index else []
    if fresh:
        index_events(fresh)
    return call("list_events", as_program(api_event("list_events", query=query or {}), program))


def deliveries(endpoint_id: str, program: str = "default") -> list[dict]:
    status, body, _ = call("list_webhook_deliveries", as_program(api_event("list_webhook_deliveries",
                                                                           path_id=endpoint_id), program))
    assert status == 200, body
    return body


def retry_event(endpoint_id: str, event_id: str, program: str = "default") -> dict:
    event = as_program(api_event("retry_webhook_delivery"), program)
    path = f"/webhooks/endpoints/{endpoint_id}/deliveries/{event_id}/retry"
    event.update({"path": path, "pathParameters": {"id": endpoint_id, "event_id": event_id}})
    event["requestContext"]["path"] = "/prod" + path
    return event


def relay(aws: Any, seen: set[str]) -> None:
    """The stream's event source mapping, as the relay's FilterCriteria passes it: new events and new webhook
    outbox records, given to the relay handler as INSERT records (a Scan: tests only)."""
    fresh = [i for i in all_items(aws) if i["PK"] not in seen
             and (i.get("type") == "EVENT" or (i.get("type") == "OUTBOX" and i.get("kind") == "webhook_delivery"))]
    seen.update(i["PK"] for i in fresh)
    if not fresh:
        return
    result = handler("relay_outbox")({"Records": insert_records(fresh)}, FakeContext())
    assert result["batchItemFailures"] == [], result


def work(aws: Any, webhooks: Any, until: Any, timeout: float = 20.0) -> None:
    """Run the relay and the delivery worker on what the queue holds (messages come back when their visibility
    ends, as SQS gives them back) until `until()` holds."""
    seen: set[str] = webhooks.__dict__.setdefault("relayed", set())
    deadline = time.time() + timeout
    while time.time() < deadline:
        relay(aws, seen)
        messages = webhooks.receive()
        if messages:
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": m.get("Attributes", {}), "eventSource": "aws:sqs"} for m in messages]
            result = handler("deliver_webhooks")({"Records": records}, FakeContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            done = [m for m in messages if m["MessageId"] not in failed]
            for m in done:
                webhooks.sqs.delete_message(QueueUrl=webhooks.queue_url, ReceiptHandle=m["ReceiptHandle"])
        if until():
            return
        if not messages:
            time.sleep(0.2)
    raise AssertionError("the webhook work did not finish in time")


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


# --- events ----------------------------------------------------------------------------------------------


def test_a_payment_and_its_refund_write_their_events_with_them(aws, webhooks):
    """Given Jack's card, when he pays and a part is refunded, then GET /events (newest first) holds
    refund.created, payment.captured and a gift_card.balance_changed per ledger entry, each as its resource's GET
    shows it; ?type= and GET /events/{id} agree; another program sees none of them."""
    jack_with_cards(KOHLS_CARD)
    status, payment, _ = pay(key="evt-pay-1")
    assert status == 201, payment
    status, refunded, _ = refund(payment["id"], {"amount": 5})
    assert status == 201, refunded
    status, listed, _ = list_events()
    assert status == 200, listed
    types = [e["type"] for e in listed]
    assert types[:3] == ["gift_card.balance_changed", "refund.created", "gift_card.balance_changed"] or \
        set(types[:4]) >= {"refund.created", "payment.captured"}, types
    assert types.count("payment.captured") == 1 and types.count("refund.created") == 1
    # ACTIVATE, REDEEM, REFUND: one balance change per ledger entry
    assert types.count("gift_card.balance_changed") == 3
    captured = next(e for e in listed if e["type"] == "payment.captured")
    assert captured["id"].startswith("evt_") and captured["data"]["id"] == payment["id"]
    assert captured["data"]["status"] == "captured" and captured["data"]["amount"] == payment["amount"]
    created = [e["created_at"] for e in listed]
    assert created == sorted(created, reverse=True)
    status, only, _ = list_events({"type": "refund.created"})
    assert status == 200 and [e["data"]["id"] for e in only] == [refunded["id"]]
    status, one, _ = call("get_event", as_program(api_event("get_event", path_id=captured["id"]), "default"))
    assert status == 200 and one == captured
    status, page, headers = list_events({"limit": "2"})
    assert status == 200 and len(page) == 2 and "Link" in headers
    assert list_events(program="acme-rewards")[1] == []
    status, _, _ = call("get_event", as_program(api_event("get_event", path_id=captured["id"]), "acme-rewards"))
    assert status == 404
    assert list_events({"type": "payment.lost"})[0] == 422


def _follow(query: dict[str, str]) -> list[list[dict]]:
    """Every page of GET /events, following each answer's Link rel="next"."""
    from urllib.parse import parse_qs, urlparse

    pages = []
    while True:
        status, body, headers = list_events(query)
        assert status == 200, body
        pages.append(body)
        link = headers.get("Link")
        if not link:
            return pages
        query = {k: v[0] for k, v in parse_qs(urlparse(link[1:link.index(">")]).query).items()}
        assert len(pages) < 50, "the pages do not end"


def test_the_event_listing_is_spread_over_shards_and_pages_through_them_newest_first(aws, webhooks):
    """Given 40 events of two types written a millisecond apart and listed by the indexer in stream batches of 6,
    when GET /events is paged 7 at a time (and ?type= 3 at a time), then every event comes exactly once, newest
    first; the chunks lie on several shards (keys.EVENT_LIST_SHARDS) and hold ids, no body; the events carry no
    index keys; a cursor of the type listing is refused by the full one, and so is one of another offset."""
    from flexigift.store import events, keys
    from flexigift.store.table import Transaction

    written = []
    for n in range(40):
        tx = Transaction()
        kind = "payment.captured" if n % 3 else "refund.created"
        created_at = f"2026-12-03T10:00:{n // 1000:02d}.{n % 1000:03d}Z"
        written.append((created_at, events.tx_put_event(tx, "default", kind, {"n": n}, created_at), kind))
        tx.commit()
    newest_first = [event_id for _, event_id, _ in sorted(written, reverse=True)]
    stream = unlisted_events()
    assert [i["id"] for i in stream] == newest_first[::-1]
    for start in range(0, len(stream), 6):
        assert index_events(stream[start:start + 6])["events"] == len(stream[start:start + 6])

    pages = _follow({"limit": "7"})
    assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1)
    assert [e["id"] for page in pages for e in page] == newest_first
    refunds = _follow({"type": "refund.created", "limit": "3"})
    assert [e["id"] for page in refunds for e in page] == [i for i in newest_first
                                                          if dict((e, k) for _, e, k in written)[i] == "refund.created"]
    assert [e["id"] for page in _follow({"limit": "100"}) for e in page] == newest_first

    items = all_items(aws)
    assert all(not any(k.startswith("GSI") for k in i) for i in items if i.get("type") == "EVENT")
    chunks = [i for i in items if i.get("type") == "EVENT_CHUNK" and "event_type" not in i]
    assert len(chunks) == 7 and sum(len(c["events"]) for c in chunks) == 40
    shards = {c["PK"] for c in chunks}
    assert len(shards) > 3 and all(p.rpartition("#")[0] == keys.events_partition("default") for p in shards)
    assert all(set(c) == {"PK", "SK", "type", "program_id", "events", "expires_at"} for c in chunks)

    _, _, headers = list_events({"type": "refund.created", "limit": "1"})
    type_cursor = headers["Link"].split("cursor=")[1].split(">")[0]
    status, body, _ = list_events({"cursor": type_cursor})
    assert status == 400 and body["error"]["code"] == "invalid_cursor", body
    for bad in ("bm90LWEtY3Vyc29y", "%%%", "x" * 9000):
        status, body, _ = list_events({"cursor": bad})
        assert status == 400 and body["error"]["code"] == "invalid_cursor", (bad, body)


def test_the_indexer_lists_each_event_once_whatever_line_it_dies_at_and_however_the_stream_retries(aws, webhooks):
    """Given a stream batch of 30 events of 15 programs (two types each: 45 chunks, two BatchWriteItem requests),
    when the indexer dies after its first request was applied, and the stream then retries the batch whole, dies
    again, and bisects it into halves that succeed, then each program's listing, and each type listing, holds each
    of its events exactly once (in the chunks themselves, not only in the pages)."""
    from flexigift.aws import dynamodb
    from flexigift.store import events
    from flexigift.store.table import Transaction

    programs = [f"prog{n:02d}" for n in range(15)]
    for n, program in enumerate(programs):
        for kind in ("payment.captured", "refund.created"):
            tx = Transaction()
            events.tx_put_event(tx, program, kind, {"n": n}, f"2026-12-03T10:00:{n:02d}.{len(kind):03d}Z")
            tx.commit()
    batch = unlisted_events()
    assert len(batch) == 30
    calls = {"n": 0}

    def die_on_the_second_request(**_):
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise RuntimeError("the execution environment died here")

    dynamodb().meta.events.register("before-call.dynamodb.BatchWriteItem", die_on_the_second_request)
    try:
        for _ in range(2):
            with pytest.raises(RuntimeError):
                index_events(batch)
    finally:
        dynamodb().meta.events.unregister("before-call.dynamodb.BatchWriteItem", die_on_the_second_request)
    index_events(batch[:15])
    index_events(batch[15:])

    def check() -> None:
        for program in programs:
            mine = sorted(i["id"] for i in batch if i["program_id"] == program)
            status, listed, _ = list_events(program=program, index=False)
            assert status == 200 and sorted(e["id"] for e in listed) == mine and len(listed) == 2, (program, listed)
            for kind in ("payment.captured", "refund.created"):
                _, typed, _ = list_events({"type": kind}, program=program, index=False)
                assert [e["type"] for e in typed] == [kind], (program, kind, typed)

    check()
    chunks = [i for i in all_items(aws) if i.get("type") == "EVENT_CHUNK"]
    assert sorted(e for c in chunks if "event_type" not in c for e in c["events"]) == sorted(i["id"] for i in batch)
    assert sorted(e for c in chunks if "event_type" in c for e in c["events"]) == sorted(i["id"] for i in batch)


def test_an_event_lives_and_dies_with_its_change(aws, webhooks):
    """Given a payment the cards cannot cover, when it is refused, then no event was written (nothing committed)."""
    jack_with_cards({**KOHLS_CARD, "balance": 10})
    before = [i for i in all_items(aws) if i.get("type") == "EVENT"]
    status, body, _ = pay(key="evt-pay-short")
    assert status == 409, body
    assert [i for i in all_items(aws) if i.get("type") == "EVENT"] == before


# --- endpoints -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/hooks", "https://10.0.0.7/hooks",
    "https://192.168.1.20/hooks", "https://172.16.0.1/hooks", "https://[fd00::1]/hooks", "https://[fe80::1]/hooks",
    "ftp://127.0.0.1/hooks", "file:///etc/passwd", "gopher://127.0.0.1/", "http://10.0.0.7/hooks",
    "https://user:pw@127.0.0.1/hooks", "not a url", "https://0.0.0.0/hooks"])
def test_an_unsafe_url_is_a_422_and_writes_nothing(aws, webhooks, url):
    before = all_items(aws)
    status, body = create_endpoint(url)
    assert status == 422, body
    assert body["error"]["fields"][0]["field"] == "url"
    assert all_items(aws) == before


def test_the_secret_is_shown_once_and_stored_sealed(aws, webhooks, receiver):
    status, created = create_endpoint(receiver.url, ["payment.captured"])
    assert status == 201, created
    assert created["secret"].startswith("whsec_") and created["secret_last4"] == created["secret"][-4:]
    item = stored(aws, "P#default#WEBHOOKS", f"ENDPOINT#{created['id']}")
    sealed = bytes(item["secret_ciphertext"].value if hasattr(item["secret_ciphertext"], "value")
                   else item["secret_ciphertext"])
    assert created["secret"] not in json.dumps({k: repr(v) for k, v in item.items()})
    assert len(sealed) > 32 and created["secret"].encode() not in sealed
    status, listed, _ = call("list_webhook_endpoints", api_event("list_webhook_endpoints"))
    assert status == 200 and [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    status, _, _ = call("delete_webhook_endpoint", api_event("delete_webhook_endpoint", path_id=created["id"]))
    assert status == 204
    assert call("delete_webhook_endpoint", api_event("delete_webhook_endpoint", path_id=created["id"]))[0] == 404
    assert call("list_webhook_endpoints", api_event("list_webhook_endpoints"))[1] == []


# --- deliveries ------------------------------------------------------------------------------------------


def test_a_captured_payment_reaches_the_endpoint_signed(aws, webhooks, receiver):
    """Given an endpoint for payment.captured, when Jack pays, then the receiver gets the event once, with its id
    in Flexigift-Event-Id and a signature that verifies with the endpoint's secret (and not with another), and
    the delivery log shows one successful attempt."""
    status, endpoint = create_endpoint(receiver.url, ["payment.captured"])
    assert status == 201, endpoint
    jack_with_cards(KOHLS_CARD)
    status, payment, _ = pay(key="wh-pay-1")
    assert status == 201
    work(aws, webhooks, lambda: receiver.of_type("payment.captured"))
    (got,) = receiver.accepted()
    assert got.event["type"] == "payment.captured" and got.event["data"]["id"] == payment["id"]
    assert got.headers["Flexigift-Event-Id"] == got.event["id"]
    assert verify_signature(endpoint["secret"], got.body, got.headers["Flexigift-Signature"])
    assert not verify_signature(endpoint["secret"], got.body.replace(b"captured", b"voided"),
                                got.headers["Flexigift-Signature"])
    assert not verify_signature("whsec_other", got.body, got.headers["Flexigift-Signature"])
    (attempt,) = deliveries(endpoint["id"])
    assert attempt["event_id"] == got.event["id"] and attempt["attempt"] == 1
    assert attempt["outcome"] == "succeeded" and attempt["http_status"] == 200 and attempt["next_retry_at"] is None


def test_500_twice_then_200_is_delivered_on_the_third_attempt(aws, webhooks):
    receiver = Receiver(statuses=[500, 500])
    try:
        status, endpoint = create_endpoint(receiver.url, ["payment.captured"])
        jack_with_cards(KOHLS_CARD)
        assert pay(key="wh-pay-2")[0] == 201
        work(aws, webhooks, lambda: receiver.of_type("payment.captured"), timeout=30)
        assert [r.status for r in receiver.received] == [500, 500, 200]
        assert len({r.event["id"] for r in receiver.received}) == 1
        log = deliveries(endpoint["id"])
        assert [(a["attempt"], a["outcome"], a["http_status"]) for a in log] == [
            (3, "succeeded", 200), (2, "retrying", 500), (1, "retrying", 500)]
        assert all(a["next_retry_at"] for a in log[1:]) and all(isinstance(a["latency_ms"], int) for a in log)
    finally:
        receiver.stop()


def test_another_programs_endpoint_receives_nothing(aws, webhooks, receiver):
    other = Receiver()
    try:
        assert create_endpoint(other.url, ["*"], program="acme-rewards")[0] == 201
        assert create_endpoint(receiver.url, ["*"])[0] == 201
        jack_with_cards(KOHLS_CARD)
        assert pay(key="wh-pay-3")[0] == 201
        work(aws, webhooks, lambda: len(receiver.of_type("gift_card.balance_changed")) == 2
             and receiver.of_type("payment.captured"))
        assert other.received == []
    finally:
        other.stop()


def test_the_url_is_checked_again_at_delivery(aws, webhooks, receiver, monkeypatch):
    """Given an endpoint registered while loopback was allowed, when deliveries may no longer go to loopback (as
    deployed), then the attempt is refused before any connection and logged as retrying with the reason."""
    status, endpoint = create_endpoint(receiver.url, ["payment.captured"])
    assert status == 201
    from flexigift.settings import get_settings

    monkeypatch.setenv("FLEXIGIFT_WEBHOOK_ALLOW_LOOPBACK", "0")
    get_settings.cache_clear()
    jack_with_cards(KOHLS_CARD)
    assert pay(key="wh-pay-4")[0] == 201
    work(aws, webhooks, lambda: bool(deliveries(endpoint["id"])))
    (attempt,) = deliveries(endpoint["id"])[-1:]
    assert attempt["outcome"] == "retrying" and attempt["http_status"] is None
    assert attempt["error"].startswith("refused:")
    assert receiver.received == []


def test_a_dead_endpoint_fails_after_its_window_and_is_kept_then_retried_by_hand(aws, webhooks, monkeypatch):
    """Given an endpoint that always answers 500 and a retry window compressed to a few seconds, then the delivery
    ends failed with every attempt logged; a retry through the API (202) delivers it once the receiver is fixed."""
    from flexigift.settings import get_settings

    monkeypatch.setenv("FLEXIGIFT_WEBHOOK_RETRY_SCALE", "0.00005")   # 24 h -> 4.3 s
    get_settings.cache_clear()
    receiver = Receiver(statuses=[500] * 50)
    try:
        status, endpoint = create_endpoint(receiver.url, ["payment.captured"])
        jack_with_cards(KOHLS_CARD)
        assert pay(key="wh-pay-5")[0] == 201
        work(aws, webhooks, lambda: any(a["outcome"] == "failed" for a in deliveries(endpoint["id"])), timeout=30)
        log = deliveries(endpoint["id"])
        assert log[0]["outcome"] == "failed" and all(a["outcome"] == "retrying" for a in log[1:]) and len(log) >= 2
        event_id = log[0]["event_id"]
        delivery = stored(aws, f"P#default#WEBHOOK#{endpoint['id']}", f"DELIVERY#{event_id}")
        assert delivery["status"] == "failed"
        receiver.statuses.clear()
        assert call("retry_webhook_delivery", retry_event(endpoint["id"], event_id, "acme-rewards"))[0] == 404
        status, body, _ = call("retry_webhook_delivery", retry_event(endpoint["id"], event_id))
        assert status == 202 and body["status"] == "pending", body
        work(aws, webhooks, lambda: receiver.of_type("payment.captured"))
        assert deliveries(endpoint["id"])[0]["outcome"] == "succeeded"
        assert call("retry_webhook_delivery", retry_event(endpoint["id"], "evt_" + "0" * 24))[0] == 404
    finally:
        receiver.stop()


def test_table_items_keep_the_program_in_their_keys(aws, webhooks, receiver):
    create_endpoint(receiver.url, ["*"])
    jack_with_cards(KOHLS_CARD)
    pay(key="wh-pay-6")
    work(aws, webhooks, lambda: len(receiver.accepted()) >= 3)
    for item in all_items(aws):
        if item.get("type") in ("EVENT", "WEBHOOK_ENDPOINT", "WEBHOOK_ATTEMPT") or str(item["SK"]).startswith("DELIVERY#"):
            assert item["PK"].startswith("P#default#"), item["PK"]
            for index in ("GSI1PK", "GSI2PK"):
                assert str(item.get(index, "P#default#")).startswith("P#default#")
    assert TABLE


def test_a_state_change_writes_its_event_and_an_unchanged_state_none(aws, webhooks):
    """Given Jack's card, when it is blocked, then one gift_card.state_changed shows the card as its GET does;
    a PATCH that sends the state it already has writes no event (and stays one UpdateItem)."""
    (number,) = jack_with_cards(KOHLS_CARD)
    status, blocked, _ = call("update_gift_card", api_event("update_gift_card", body={"state": "BLOCKED"},
                                                            path_id=number))
    assert status == 200 and blocked["state"] == "BLOCKED"
    status, again, _ = call("update_gift_card", api_event("update_gift_card", body={"state": "BLOCKED"},
                                                          path_id=number))
    assert status == 200
    status, changed, _ = list_events({"type": "gift_card.state_changed"})
    assert status == 200 and len(changed) == 1, changed
    assert changed[0]["data"] == blocked                  # the card as the change left it (and answered it)
    status, card, _ = call("get_gift_card", api_event("get_gift_card", path_id=number))
    assert set(changed[0]["data"]) == set(card) and card["state"] == "BLOCKED"


def test_reward_orders_report_delivered_and_failed(aws, rewards, webhooks):
    """Given the catalog, when an order is delivered in the answer, then reward_order.delivered shows it as GET
    /rewards/orders/{id} does; when an email order is sent, reward_order.delivered, and when another's delivery
    is given up (dead-lettered), reward_order.failed, each written with the order's mark."""
    from flexigift.logic.deliver_orders import deliver, give_up
    from flexigift.models.rewards import DeliveryMessage

    assert handler("refresh_rewards_catalog")(load_event("refresh_rewards_catalog"), FakeContext())["applied"] is True
    order_event = api_event("create_reward_order", body={"reward_id": 27234, "amount": 25, "delivery_method": 1})
    status, placed, _ = call("create_reward_order", order_event)
    assert status == 201, placed
    email_orders = []
    for _ in range(2):
        event = api_event("create_reward_order", body={"reward_id": 27234, "amount": 25, "delivery_method": 2,
                                                       "delivery_email": "jack.johnson@example.com"})
        event["headers"].pop("Idempotency-Key", None)
        status, body, _ = call("create_reward_order", event)
        assert status == 201, body
        email_orders.append(body["order_id"])
    assert deliver(DeliveryMessage(program_id="default", order_id=email_orders[0], delivery_round=1)) == "sent"
    assert give_up(DeliveryMessage(program_id="default", order_id=email_orders[1], delivery_round=1)) == "marked_failed"
    status, delivered, _ = list_events({"type": "reward_order.delivered"})
    assert status == 200 and {e["data"]["order_id"] for e in delivered} == {placed["order_id"], email_orders[0]}
    status, shown, _ = call("get_reward_order", api_event("get_reward_order", path_id=placed["order_id"]))
    assert status == 200 and next(e for e in delivered if e["data"]["order_id"] == placed["order_id"])["data"] == shown["order"]
    status, failed, _ = list_events({"type": "reward_order.failed"})
    assert [e["data"]["order_id"] for e in failed] == [email_orders[1]]
    assert failed[0]["data"]["delivery_status"] == "failed" and failed[0]["data"]["failure_reason"]


def test_a_hung_endpoint_times_out_at_10_s_and_delays_no_other(aws, webhooks, receiver):
    """Given two endpoints of the program, one that answers only after 12 s, when a payment's events are
    delivered in one batch, then the healthy endpoint has its event while the hung one is still waiting, and the
    hung attempt ends as a timeout after about 10 s (retrying), not a success."""
    hung = Receiver(answer_after=12)
    try:
        _, slow = create_endpoint(hung.url, ["payment.captured"])
        create_endpoint(receiver.url, ["payment.captured"])
        jack_with_cards(KOHLS_CARD)
        assert pay(key="wh-pay-hung")[0] == 201
        started = time.time()
        work(aws, webhooks, lambda: bool(receiver.of_type("payment.captured")) and bool(deliveries(slow["id"])),
             timeout=40)
        (got,) = receiver.of_type("payment.captured")
        (attempt,) = deliveries(slow["id"])
        assert got.at - started < 5, got.at - started             # not held up by the hung endpoint
        assert attempt["outcome"] == "retrying" and attempt["http_status"] is None
        assert 9_500 <= attempt["latency_ms"] <= 12_000 and "timed out" in attempt["error"].lower(), attempt
    finally:
        hung.stop()
