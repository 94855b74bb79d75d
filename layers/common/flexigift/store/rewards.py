"""Storage of the Giftcard Rewards: catalog items, programs, orders, resend counters, and the outbox records
of email deliveries. The only code of the rewards that knows DynamoDB.

Catalog item  PK=REWARD#<id>            GSI1 REWARD / <id:012> (all)   GSI2 REWARD#country#<CC> / <id:012>
                                        (GSI2 only while available: a sparse index, so the catalog of a
                                        country is one Query of available items and nothing else)
Program       PK=PROGRAM#<id>
Order         PK=P#<program>#REWARD_ORDER#<id>    GSI1 P#<program>#REWARD_ORDER / <created_at>#<id>
Resend count  PK=P#<program>#REWARD_ORDER#<id>  SK=RESENDS#<hour>  (TTL expires_at)
Order's key   PK=P#<program>#IDEMPOTENCY#reward_order#<Idempotency-Key>  (the claim: request hash, order id)
Outbox        PK=P#<program>#OUTBOX#reward_email#<order id>#<round>  (TTL expires_at; the stream relays it)

Every order function takes the program: an order of another program cannot be read or written with it.
An order, its Idempotency-Key's claim and its outbox record are written by one transaction (tx_* add their
item to a Transaction; logic commits it).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from flexigift.aws import dynamodb
from flexigift.store import keys
from flexigift.store.listing import Listing, page
from flexigift.store.table import (
    Query,
    Transaction,
    batch_get,
    found_in,
    get_item,
    query_page,
    read_cache,
    table_name,
    to_attr,
    values,
)

_INTERNAL = {"PK", "SK", "type"} | {f"{i}{p}" for i in keys.INDEXES for p in ("PK", "SK")}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL}


def _conditional(call: Any, **kwargs: Any) -> bool:
    """Run a conditional write; False when its condition failed, any other error propagates."""
    read_cache.drop(kwargs.get("Key") or kwargs.get("Item") or {})
    try:
        call(TableName=table_name(), **kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _update(key: dict[str, str], expression: str, condition: str, names: dict[str, str] | None = None,
            **vals: Any) -> bool:
    kwargs: dict[str, Any] = {"Key": to_attr(key), "UpdateExpression": expression, "ConditionExpression": condition}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if vals:
        kwargs["ExpressionAttributeValues"] = values(**vals)
    return _conditional(dynamodb().update_item, **kwargs)


def _query_all(q: Query) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page, q.start_key = query_page(q)
        items.extend(page)
        if q.start_key is None:
            return items


# --- catalog -------------------------------------------------------------------------------------


def get_reward(rewards_id: int) -> dict[str, Any] | None:
    item = get_item(keys.reward_key(rewards_id))
    return _record(item) if item else None


def available_in(country: str) -> list[dict[str, Any]]:
    """The available catalog items of one country, by rewards_id."""
    q = Query(index="GSI2", pk_name="GSI2PK", pk_value=keys.reward_country_partition(country), limit=500)
    return [_record(i) for i in _query_all(q)]


def catalog_state() -> dict[int, dict[str, Any]]:
    """Every catalog item ever stored (available or not): rewards_id -> content_hash, available."""
    q = Query(index="GSI1", pk_name="GSI1PK", pk_value=keys.REWARD_TYPE, limit=500)
    return {int(i["rewards_id"]): {"content_hash": i.get("content_hash"), "available": bool(i.get("available"))}
            for i in _query_all(q)}


def save_reward(record: dict[str, Any], content_hash: str, updated_at: str, expected_hash: str | None,
                available: bool = True) -> bool:
    """Write a catalog item, unless someone changed it since it was read (False then).
    `expected_hash` None: the item must not exist yet. Only an available item is in its country's index."""
    rewards_id = int(record["rewards_id"])
    item = {**record, **keys.reward_key(rewards_id), "type": keys.REWARD_TYPE, "available": available,
            "content_hash": content_hash, "updated_at": updated_at,
            "GSI1PK": keys.REWARD_TYPE, "GSI1SK": keys.pad_id(rewards_id)}
    if available:
        item["GSI2PK"], item["GSI2SK"] = keys.reward_country_partition(record["country"]), keys.pad_id(rewards_id)
    else:
        item["unavailable_since"] = updated_at
    if expected_hash is None:
        return _conditional(dynamodb().put_item, Item=to_attr(item), ConditionExpression="attribute_not_exists(PK)")
    return _conditional(dynamodb().put_item, Item=to_attr(item), ConditionExpression="content_hash = :expected",
                        ExpressionAttributeValues=values(expected=expected_hash))


def withdraw_reward(rewards_id: int, expected_hash: str | None, updated_at: str) -> bool:
    """Mark an item unavailable (it leaves the country's sparse index). Never deleted: orders name it."""
    return _update(keys.reward_key(rewards_id),
                   "SET available = :no, updated_at = :at, unavailable_since = :at REMOVE GSI2PK, GSI2SK",
                   "attribute_exists(PK) AND available = :yes AND content_hash = :expected",
                   no=False, yes=True, at=updated_at, expected=expected_hash)


# --- programs ------------------------------------------------------------------------------------


def get_program(program_id: str) -> dict[str, Any] | None:
    item = get_item(keys.program_key(program_id))
    return _record(item) if item else None


def put_program(program_id: str, delivery_methods: list[int], updated_at: str) -> None:
    item = {**keys.program_key(program_id), "type": "PROGRAM", "program_id": program_id,
            "delivery_methods": sorted(set(delivery_methods)), "updated_at": updated_at}
    read_cache.drop(item)
    dynamodb().put_item(TableName=table_name(), Item=to_attr(item))


# --- orders --------------------------------------------------------------------------------------

OUTBOX_TTL_SECONDS = 7 * 24 * 3600   # an outbox record is relayed within seconds; kept a week to look at


def get_order_inputs(program_id: str, rewards_id: int, claim_key: dict[str, str] | None,
                     user_id: str | None = None,
                     ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None,
                                dict[str, Any] | None]:
    """What an order is checked against, in one BatchGetItem: the caller's program, the catalog item,
    with an Idempotency-Key its claim, and for a reward paid into a wallet the user's guard (None where
    there is no such item)."""
    program_key, reward_key = keys.program_key(program_id), keys.reward_key(rewards_id)
    user_key = keys.unique_key(program_id, "USER", user_id) if user_id else None
    found = batch_get([program_key, reward_key, *([claim_key] if claim_key else []), *([user_key] if user_key else [])],
                      cached=True)  # the program and the catalog item may come from the ReadCache
    program, reward = found_in(found, program_key), found_in(found, reward_key)
    claim = found_in(found, claim_key) if claim_key else None
    user_guard = found_in(found, user_key) if user_key else None
    return (_record(program) if program else None), (_record(reward) if reward else None), claim, user_guard


def tx_insert_order(tx: Transaction, record: dict[str, Any]) -> None:
    """A new order (label 'order'); its id is new, so the condition only guards against a collision."""
    program_id, order_id = record["program_id"], record["order_id"]
    item = {**record, **keys.reward_order_key(program_id, order_id), "type": keys.REWARD_ORDER_TYPE,
            "GSI1PK": keys.sharded(keys.reward_orders_partition(program_id),
                                   keys.shard_of_text(order_id, keys.ORDER_SHARDS), keys.ORDER_SHARDS),
            "GSI1SK": keys.reward_order_sort(record["created_at"], order_id)}
    tx.put("order", item, condition="attribute_not_exists(PK)")


def outbox_email(program_id: str, order_id: str, delivery_round: int, created_at: str, now: float) -> dict[str, Any]:
    """The outbox record that asks for one delivery round of an email order (what the relay puts on the
    delivery queue: program, order and round, never the code or the address)."""
    return {**keys.reward_email_outbox_key(program_id, order_id, delivery_round), "type": keys.OUTBOX_TYPE,
            "kind": "reward_email", "program_id": program_id, "order_id": order_id,
            "delivery_round": delivery_round, "created_at": created_at,
            keys.TTL_ATTRIBUTE: int(now) + OUTBOX_TTL_SECONDS}


def tx_put_outbox(tx: Transaction, record: dict[str, Any]) -> None:
    """Label 'outbox'. One record per round: a round already in the outbox fails the transaction."""
    tx.put("outbox", record, condition="attribute_not_exists(PK)")


def order_record(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An order as the logic sees it, from its item as read (None: no such order)."""
    if item is None or item.get("type") != keys.REWARD_ORDER_TYPE:
        return None
    record = _record(item)
    if "code_ciphertext" in record:  # boto3's Binary -> bytes
        record["code_ciphertext"] = bytes(getattr(record["code_ciphertext"], "value", record["code_ciphertext"]))
    return record


def get_order(program_id: str, order_id: str) -> dict[str, Any] | None:
    return order_record(get_item(keys.reward_order_key(program_id, order_id)))


def orders_listing(program_id: str) -> Listing:
    return Listing("GSI1", keys.reward_orders_partition(program_id), sharded=True, forward=False,
                   shards=keys.ORDER_SHARDS)


def list_orders(program_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a program's orders, newest first: the keys from the sharded listing (GSI1 holds no order
    fields), then the orders in one BatchGetItem, eventually consistent like the index (GET
    /rewards/orders/{id} reads an order consistently)."""
    index_items, next_cursor = page(orders_listing(program_id), limit, cursor)
    found = batch_get([{"PK": i["PK"], "SK": i["SK"]} for i in index_items], consistent=False) if index_items else {}
    records = [order_record(found_in(found, i)) for i in index_items]
    return [r for r in records if r is not None], next_cursor


def claim_delivery(program_id: str, order_id: str, delivery_round: int, now: str) -> bool:
    """The 'sending' marker: only one worker may send a round's email, and only once."""
    return _update(keys.reward_order_key(program_id, order_id),
                   "SET delivery_status = :sending, sending_at = :now, updated_at = :now ADD attempts :one",
                   "delivery_round = :round AND delivery_status = :queued",
                   sending="sending", queued="queued", now=now, one=1, round=delivery_round)


def _update_with_event(key: dict[str, str], expression: str, condition: str, event: tuple[str, str, Any] | None,
                       **vals: Any) -> bool:
    """_update, and with it (one transaction) the event (program, type, data) that reports the change."""
    if event is None:
        return _update(key, expression, condition, **vals)
    from flexigift.store import events
    from flexigift.store.table import TransactionCancelled

    tx = Transaction()
    tx.update("order", key, expression, condition=condition, vals=vals)
    program_id, event_type, data = event
    events.tx_put_event(tx, program_id, event_type, data, str(vals["now"]))
    try:
        tx.commit()
    except TransactionCancelled as cancelled:
        if "order" in tx.failed_labels(cancelled):
            return False
        raise
    return True


def mark_delivered(program_id: str, order_id: str, delivery_round: int, now: str, message_id: str,
                   event: tuple[str, str, Any] | None = None) -> bool:
    return _update_with_event(keys.reward_order_key(program_id, order_id),
                   "SET delivery_status = :delivered, order_status = :complete, delivered_at = :now, "
                   "updated_at = :now, email_message_id = :mid REMOVE last_error, failure_reason",
                   "delivery_round = :round AND delivery_status = :sending",
                   event, delivered="delivered", complete="complete", now=now, mid=message_id,
                   round=delivery_round, sending="sending")


def release_claim(program_id: str, order_id: str, delivery_round: int, now: str, error: str) -> bool:
    """The send failed for certain: back to 'queued' so the queue's next try may send it."""
    return _update(keys.reward_order_key(program_id, order_id),
                   "SET delivery_status = :queued, last_error = :error, updated_at = :now",
                   "delivery_round = :round AND delivery_status = :sending",
                   queued="queued", error=error, now=now, round=delivery_round, sending="sending")


def mark_failed(program_id: str, order_id: str, delivery_round: int, reason: str, now: str,
                event: tuple[str, str, Any] | None = None) -> bool:
    """Give up on a round (dead-lettered). Never undoes a delivery."""
    return _update_with_event(keys.reward_order_key(program_id, order_id),
                   "SET delivery_status = :failed, order_status = :failed, failure_reason = :reason, "
                   "failed_at = :now, updated_at = :now",
                   "delivery_round = :round AND delivery_status <> :delivered",
                   event, failed="failed", reason=reason, now=now, round=delivery_round, delivered="delivered")


def tx_count_resend(tx: Transaction, program_id: str, order_id: str, window: str, limit: int, expires_at: int) -> None:
    tx.update("resend_limit", keys.resend_window_key(program_id, order_id, window),
              "ADD resends :one SET expires_at = if_not_exists(expires_at, :exp), #t = :type",
              condition="attribute_not_exists(resends) OR resends < :limit", names={"#t": "type"},
              vals={"one": 1, "exp": expires_at, "limit": limit, "type": "RESENDS"})


def tx_requeue(tx: Transaction, order: dict[str, Any], delivery_email: str, now: str,
               address_change: dict[str, str] | None = None) -> None:
    """Start the next delivery round of an email order that is delivered or failed (label 'order'); with
    `address_change`, the order was failed and goes to a new address, and the change is appended to its
    address_changes (the condition then also requires the round to have failed and the old address)."""
    expression = ("SET delivery_round = :next, delivery_status = :queued, order_status = :pending, "
                  "delivery_email = :email, updated_at = :now, attempts = :zero")
    condition = "delivery_round = :round AND delivery_status IN (:delivered, :failed)"
    vals: dict[str, Any] = {"next": int(order["delivery_round"]) + 1, "queued": "queued", "pending": "pending",
                            "email": delivery_email, "now": now, "zero": 0, "one": 1,
                            "round": int(order["delivery_round"]), "delivered": "delivered", "failed": "failed"}
    if address_change is not None:
        expression += ", address_changes = list_append(if_not_exists(address_changes, :none), :change)"
        condition = "delivery_round = :round AND delivery_status = :failed AND delivery_email = :old"
        vals.update(none=[], change=[address_change], old=order["delivery_email"])
        del vals["delivered"]
    tx.update("order", keys.reward_order_key(order["program_id"], order["order_id"]),
              f"{expression} ADD resend_count :one REMOVE failure_reason, last_error, delivered_at, failed_at",
              condition=condition, vals=vals)


def requeued(order: dict[str, Any], delivery_email: str, now: str,
             address_change: dict[str, str] | None = None) -> dict[str, Any]:
    """The order as tx_requeue writes it, from the order as read (tx_requeue's condition: unchanged since)."""
    record = {k: v for k, v in order.items()
              if k not in ("failure_reason", "last_error", "delivered_at", "failed_at")}
    record.update(delivery_round=int(order["delivery_round"]) + 1, delivery_status="queued", order_status="pending",
                  delivery_email=delivery_email, updated_at=now, attempts=0,
                  resend_count=int(order.get("resend_count", 0)) + 1)
    if address_change is not None:
        record["address_changes"] = [*order.get("address_changes", []), address_change]
    return record
