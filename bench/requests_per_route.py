"""Figure b: DynamoDB requests per API operation, counted through botocore's before-call events on the
application's own client, each route called once with its events/<module>.json against moto."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, Callable

from bench.moto_env import moto_aws
from bench.report import Figure
from local import template

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
# Creates whose resource has an integer id drawn from a counter item (/users/1, /gift_cards/1, /products/1).
NUMERIC_ID_CREATES = {"create_user", "create_gift_card", "create_product"}

# The order the routes are called in: each step leaves what the next ones need (the seed's Jack, his
# Kohl's card linked, the dog bed, a payment, a reward order, an API key), deletes last. Jack's card has had
# money move on it, so it may not be deleted (nor Jack while he has it): the card and user deletions are of a
# second user and card registered for them, with nothing on the card (DISPOSABLE, not counted).
SEQUENCE = [
    "create_user", "create_gift_card", "create_product", "replace_user", "get_user", "list_users",
    "update_user", "get_gift_card", "list_gift_cards", "replace_gift_card", "list_gift_card_activities",
    "get_product", "list_products", "replace_product", "update_product", "checkout_quote", "create_payment",
    "get_payment", "create_refund", "create_api_key", "list_api_keys", "revoke_api_key",
    "get_rewards_catalog", "create_reward_order", "get_reward_order", "list_reward_orders",
    "resend_reward_order", "update_gift_card", "delete_gift_card", "delete_product", "delete_user",
]


# Where the access pattern itself needs more than "1 read" or "1 write", the minimum and why. Every other
# route: 1 request for a read, 1 (transactional) write for a write, +1 counter UpdateItem for an integer id
# (the first create of an execution environment: later ones take their id from its block).
# The counts are of the bench's own request (events/<module>.json, as SEQUENCE leaves the data).
PATTERN_MINIMUM: dict[str, tuple[int, str]] = {
    "replace_user": (2, "names cards: 1 BatchGetItem (user, cards' guards) + 1 tx; no cards: 1"),
    "replace_gift_card": (2, "balance changes: ledger entry needs stored balance+version, + 1 tx; else 1"),
    "checkout_quote": (2, "BatchGetItem of natural-id guards, then of the products and cards they name"),
    "create_payment": (3, "the quote's 2 BatchGetItem (with the Idempotency-Key claim) + 1 tx"),
    "create_refund": (3, "payment (which cards), then the cards (version, balance) + 1 tx"),
    "revoke_api_key": (2, "key_id -> key hash pointer (GetItem) + 1 UpdateItem"),
    "create_reward_order": (4, "program+item BatchGetItem, order PutItem, Powertools idempotency Put+Update"),
    "resend_reward_order": (2, "order read (rules, answer) + 1 tx (hourly count + order)"),
    "update_product": (2, "an issuer key's PATCH that does not name eligible_issuer: read (the stored issuer, "
                          "checked) + 1 tx; naming it: 1"),
    "update_gift_card": (2, "a state change: read + 1 tx (the card and its gift_card.state_changed event); else 1"),
    "delete_gift_card": (3, "card read (guard, owner, balance), owner's wallet read (linked card) + 1 tx"),
    "delete_product": (2, "read (the product_id guard to release) + 1 tx"),
    "delete_user": (2, "read (the user_id guard to release) + 1 tx"),
    # Listings over a sharded index partition (no hot partition: docs/access-patterns.md): one keys-only
    # Query per shard, merged, then the page's records from the table.
    "list_users": (17, "16 shards' Query (keys only) + 1 BatchGetItem of the page"),
    "list_gift_cards": (2, "?user_id= (the bench's filter): 1 Query (keys only) + 1 BatchGetItem; no filter 17"),
    "list_products": (17, "?eligible_issuer= (the bench's filter): its 16 shards' Query + 1 BatchGetItem"),
    "list_api_keys": (17, "16 shards' Query (keys only) + 1 BatchGetItem of the page"),
    "list_reward_orders": (65, "64 shards' Query (keys only) + 1 BatchGetItem of the page"),
}


def expected_calls(module: str, method: str) -> int:
    """The minimum for the access pattern: 1 request for a read, 1 (transactional) write for a write,
    plus 1 counter UpdateItem where the created resource gets an integer id; PATTERN_MINIMUM where the
    pattern needs more, with its reason."""
    if module in PATTERN_MINIMUM:
        return PATTERN_MINIMUM[module][0]
    return 1 + (module in NUMERIC_ID_CREATES) if not is_read(module, method) else 1


def target_text(module: str, method: str) -> str:
    expected = expected_calls(module, method)
    if module in PATTERN_MINIMUM:
        return f"<= {expected} ({PATTERN_MINIMUM[module][1]})"
    return f"<= {expected} ({'read' if is_read(module, method) else 'write'}{' + id counter' if expected == 2 else ''})"


def is_read(module: str, method: str) -> bool:
    return method == "GET" or module == "checkout_quote"  # a quote prices a basket and stores nothing


def _id_from(body: Any) -> str | None:
    if isinstance(body, dict):
        for name in ("id", "payment_id", "key_id", "order_id"):
            if body.get(name) is not None:
                return str(body[name])
    return None


def route_modules() -> dict[str, tuple[str, str]]:
    """module -> (method, path) of every API route with an explicit method."""
    functions = template.functions()
    return {functions[r.function].module: (r.method, r.path) for r in template.routes() if r.method != "ANY"}


def run() -> list[Figure]:
    routes = route_modules()
    figures: list[Figure] = []
    ids: dict[str, str] = {}
    with moto_aws() as aws:
        from flexigift.logic.refresh_catalog import refresh_catalog
        from tests.support import api_event, call

        aws.upload_feed((template.ROOT / "feeds" / "catalog.json").read_bytes())
        refresh_catalog()
        aws.counter.take()
        for module in SEQUENCE:
            if module not in routes:
                continue
            if module == "delete_gift_card":
                ids.update(_register_disposable(api_event, call))
                aws.counter.take()
            method, path = routes[module]
            path_id = None
            if "{id}" in path or "{key_id}" in path:
                path_id = {"payments": ids.get("payment"), "rewards": ids.get("order"),
                           "admin": ids.get("api_key")}.get(path.split("/")[1], None)
            if module in ("delete_gift_card", "delete_user"):
                path_id = ids["disposable_card" if module == "delete_gift_card" else "disposable_user"]
            event = api_event(module, path_id=path_id)
            event["requestContext"]["requestId"] = str(uuid.uuid4())
            if "Idempotency-Key" in (event.get("headers") or {}):
                event["headers"]["Idempotency-Key"] = str(uuid.uuid4())
            if module == "create_reward_order":  # by email, so that it can be resent
                event["body"] = '{"reward_id": 27222, "amount": 1, "delivery_email": "jack.johnson@example.com"}'
            aws.counter.take()
            status, body, _ = call(module, event)
            counts = aws.counter.take()
            if module == "create_payment":
                ids["payment"] = _id_from(body) or ""
            elif module == "create_reward_order":
                ids["order"] = _id_from(body) or ""
                _deliver_emails()  # the worker sends the email, so that the order can be resent
                aws.counter.take()
            elif module == "create_api_key":
                ids["api_key"] = _id_from(body) or ""
            figures.append(_figure(module, method, path, status, counts))
        for module in sorted(set(routes) - set(SEQUENCE)):
            method, path = routes[module]
            figures.append(Figure("b", f"{method} {path}", "not run", "", None, "no step in the bench's sequence"))
    return figures


DISPOSABLE_USER = {"user_id": "bench-disposable", "amazon_id": "amzdisposable", "name": "Dee Sposable",
                   "email": "dee@example.com"}
DISPOSABLE_CARD = {"card_id": "bench-disposable-gc", "user_id": "bench-disposable", "issuer": "Kohls", "balance": 0,
                   "expiry_date": "2030-12-31"}


def _register_disposable(api_event: Callable[..., dict], call: Callable[..., tuple]) -> dict[str, str]:
    """A second user and a card with nothing on it, for the deletions to delete (see SEQUENCE)."""
    registered = {}
    for module, body, name in (("create_user", DISPOSABLE_USER, "disposable_user"),
                               ("create_gift_card", DISPOSABLE_CARD, "disposable_card")):
        status, answer, _ = call(module, api_event(module, body=body))
        assert status == 201, (module, status, answer)  # a figure of deletions that were refused would mean nothing
        registered[name] = str(answer["id"])
    return registered


def _relay_outbox() -> None:
    """What the outbox relay does on the table's stream: the bench's table has none (moto_env), so its new
    OUTBOX items are handed to the relay function as the INSERT records the stream would carry (a Scan: the
    bench's own, not counted, never in a request path)."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from bench.moto_env import REGION, TABLE
    from tests.support import FakeContext, handler

    raw = boto3.client("dynamodb", region_name=REGION)
    pages = raw.get_paginator("scan").paginate(TableName=TABLE, FilterExpression="#t = :outbox",
                                                 ExpressionAttributeNames={"#t": "type"},
                                                 ExpressionAttributeValues={":outbox": {"S": "OUTBOX"}})
    items = [i for page in pages for i in page.get("Items", [])]
    plain = [{k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in items]
    records = [{"eventID": f"bench-{n}", "eventName": "INSERT", "eventSource": "aws:dynamodb",
                "dynamodb": {"Keys": {"PK": i["PK"], "SK": i["SK"]}, "SequenceNumber": str(n + 1),
                             "StreamViewType": "NEW_IMAGE",
                             "NewImage": {k: TypeSerializer().serialize(v) for k, v in p.items()}}}
               for n, (i, p) in enumerate(zip(items, plain, strict=True))]
    if records:
        handler("relay_outbox")({"Records": records}, FakeContext())


def _deliver_emails() -> None:
    """One poll of the delivery queue by its worker function, as the SQS event source does (after the outbox
    relay has put the order's email round on it)."""
    import boto3

    from bench.moto_env import PHYSICAL, REGION
    from tests.support import FakeContext, handler

    _relay_outbox()
    queue_url = PHYSICAL["RewardsDeliveryQueue"]
    messages = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    arn = PHYSICAL["RewardsDeliveryQueue.Arn"]
    event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                          "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                          "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION} for m in messages]}
    if messages:
        handler("deliver_reward_emails")(event, FakeContext())


def _figure(module: str, method: str, path: str, status: int, counts: Counter) -> Figure:
    total = sum(counts.values())
    expected = expected_calls(module, method)
    calls = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"
    note = f"HTTP {status}"
    if "Scan" in counts:
        note += "  *** SCAN IN A REQUEST PATH ***"
    target = target_text(module, method)
    ok = status < 300 and total <= expected and "Scan" not in counts
    if status >= 300:
        note += " (not a success: counts are of a refusal)"
    return Figure("b", f"{method} {path} [{module}]", f"{total}: {calls}", target, ok, note)


def scan_seen(figures: list[Figure]) -> bool:
    return any("SCAN" in f.note for f in figures)
