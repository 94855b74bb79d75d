"""POST /rewards/order: confirm a reward and an amount, issue a code, deliver it in the answer (method 1),
by email (method 2) or into a Flexigift user's wallet as a gift card (method 3, logic.wallet_reward).

The code and PIN are generated here, sealed with KMS and stored only as ciphertext. What the order needs
next is written with it: one TransactWriteItems holds the order, the claim of its Idempotency-Key (when
the request has one) and, for an email order, the outbox record that asks for its delivery. Nothing is
sent from here: the table's stream carries the outbox record to the relay (functions/relay_outbox.py),
which puts it on the delivery queue. So a function that dies at any line leaves either nothing (and a
retry starts afresh) or the whole order with its claim and its delivery request (and a retry replays it).

Idempotency-Key (optional; the seed's sample order sends none): its claim holds the request's hash and the
order id. A retry finds the claim and answers as the first time (same order, same code: an API order's
sealed code is opened again; the answer is never stored); the same key with another body is 422
idempotency_key_reused, as POST /payments answers. Keys belong to the program: two API keys of one
program retrying one request share it. A concurrent duplicate that loses the claim's condition answers
with the winner's order.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timezone
from typing import Any

from flexigift import vault
from flexigift.api import Caller
from flexigift.errors import Conflict
from flexigift.logic import order_rules as rules
from flexigift.logic import wallet_reward
from flexigift.logic.idempotency import (
    IDEMPOTENCY_HEADER,
    check_idempotency_key,
    claim_key,
    claim_record,
    claimed,
    request_hash,
)
from flexigift.logic.programs import methods_of
from flexigift.logic.reward_orders import public_order
from flexigift.models.rewards import DeliveryMethod, OrderPlaced, OrderRequest, OrderStatus, Reward
from flexigift.observability import logger, mask_email, metrics
from flexigift.store import events, keys
from flexigift.store import rewards as store
from flexigift.store.checkout import tx_claim_idempotency
from flexigift.store.table import Transaction, TransactionCancelled
from flexigift.store.wallet import now_iso

__all__ = ["IDEMPOTENCY_HEADER", "answer_for", "place_order"]

COMMIT_ATTEMPTS = 4   # a commit cancelled only by contention (no condition failed) is sent again


def place_order(body: OrderRequest, who: Caller, request_id: str,
                idempotency_key: str | None) -> tuple[OrderPlaced, bool]:
    """The answer for the order, and whether it is a replay of an earlier request with the same key."""
    key = check_idempotency_key(idempotency_key, required=False)
    claim_at = claim_key(who.program_id, keys.REWARD_ORDER_OPERATION, key) if key else None
    hashed = request_hash(keys.REWARD_ORDER_OPERATION, body.model_dump(mode="json"))
    program, item, claim_item, user_guard = store.get_order_inputs(who.program_id, body.reward_id, claim_at,
                                                                   body.user_id)
    if claim_at is not None:
        claim = claimed(claim_at, hashed, claim_item)
        if claim is not None:
            return _replay(who, claim), True

    method = rules.choose_delivery_method(body.delivery_method, methods_of(who.program_id, program),
                                         who.program_id, has_email=body.delivery_email is not None)
    rules.require_email(method, body.delivery_email)
    rules.check_against_item(body, item)
    assert item is not None  # noqa: S101 - check_against_item refused a missing item
    if method is DeliveryMethod.WALLET:
        assert body.user_id is not None  # noqa: S101 - OrderRequest requires it with method 3
        wallet_reward.check_wallet_delivery(item, body.user_id, user_guard)

    record = _new_order(body, who, request_id, key, method, item)
    tx = Transaction()
    if method is DeliveryMethod.WALLET:
        assert body.user_id is not None and user_guard is not None  # noqa: S101 - checked above
        card = wallet_reward.new_card(who.program_id, record, item, body.user_id, user_guard)
        record.update(user_id=body.user_id, card_numeric_id=card["id"], card_id=card["card_id"])
        wallet_reward.tx_deliver(tx, who.program_id, card, who.key_id)
    if claim_at is not None:
        tx_claim_idempotency(tx, claim_at, claim_record(keys.REWARD_ORDER_OPERATION, hashed, record["created_at"],
                                                        order_id=record["order_id"], request_id=request_id))
    store.tx_insert_order(tx, record)
    if method is not DeliveryMethod.EMAIL:  # in the answer or into the wallet: delivered with the order
        events.tx_put_event(tx, who.program_id, "reward_order.delivered", public_order(record), record["created_at"])
    if method is DeliveryMethod.EMAIL:
        store.tx_put_outbox(tx, store.outbox_email(who.program_id, record["order_id"], 1, record["created_at"],
                                                   time.time()))
    winner = _commit(tx, claim_at, hashed)
    if winner is not None:  # a concurrent request with the same key committed first
        return _replay(who, winner), True
    _count_and_log(record)
    return answer_for(record, request_id), False


def _new_order(body: OrderRequest, who: Caller, request_id: str, key: str | None, method: DeliveryMethod,
               item: dict[str, Any]) -> dict[str, Any]:
    order_id, code, pin = rules.new_order_id(), rules.new_code(), rules.new_pin()
    now = now_iso()
    email = method is DeliveryMethod.EMAIL
    return {
        "order_id": order_id,
        "program_id": who.program_id,
        "key_id": who.key_id,
        "request_id": request_id,
        "idempotency_key": key,
        "reward_id": body.reward_id,
        "rewards_name": item["rewards_name"],
        "amount": body.amount,
        "currency": item["currency"],
        "delivery_method": int(method),
        "delivery_email": str(body.delivery_email) if email else None,
        "order_status": OrderStatus.PENDING.value if email else OrderStatus.COMPLETE.value,
        "delivery_status": "queued" if email else "delivered",
        "delivery_round": 1 if email else 0,
        "attempts": 0,
        "resend_count": 0,
        "code_ciphertext": vault.seal(order_id, code, pin),
        "code_last4": rules.code_last4(code),
        "reward_type": "codePin",
        "valid_till": rules.valid_till(item["expiration"], _today()).isoformat(),
        "created_at": now,
        "updated_at": now,
        "delivered_at": None if email else now,
    }


def _commit(tx: Transaction, claim_at: dict[str, str] | None, hashed: str) -> dict[str, Any] | None:
    """Commit the order; None when it was written, else the claim of the request that took the key first.
    The same items are sent again after a cancellation caused only by contention (a concurrent transaction
    on one of its items), with a new ClientRequestToken (tx.retry) so DynamoDB tries them anew."""
    for attempt in range(COMMIT_ATTEMPTS):
        tx.retry = attempt
        try:
            tx.commit()
            return None
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            if "idempotency" in failed and claim_at is not None:
                claim = claimed(claim_at, hashed)  # another body under this key: 422 from here
                if claim is not None:
                    return claim
            refused = wallet_reward.wallet_refused(failed)
            if refused is not None:
                raise refused from None
            if failed or not cancelled.contention or attempt == COMMIT_ATTEMPTS - 1:
                raise Conflict("The order could not be recorded because of a concurrent change; nothing was "
                               f"ordered. Retry with the same {IDEMPOTENCY_HEADER}") from None
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311  # retry jitter, not a secret
    raise AssertionError("unreachable: the last attempt returns or raises")


def _replay(who: Caller, claim: dict[str, Any]) -> OrderPlaced:
    """The first answer again, from the order the claim names (committed with it, so it exists while the
    claim does; orders are never deleted)."""
    order = store.get_order(who.program_id, str(claim["order_id"]))
    if order is None:
        raise Conflict(f"The order this {IDEMPOTENCY_HEADER} created cannot be read; retry in a moment")
    metrics.add_metric(name="RewardOrderReplayed", unit="Count", value=1)
    return answer_for(order, str(claim.get("request_id") or order["request_id"]))


def answer_for(order: dict[str, Any], first_request_id: str) -> OrderPlaced:
    """The answer as the order's first request got it (an API order opens its sealed code again)."""
    if int(order["delivery_method"]) == DeliveryMethod.EMAIL:
        return OrderPlaced(request_id=first_request_id, order_status=OrderStatus.PENDING, order_id=order["order_id"])
    code, pin = vault.unseal(order["order_id"], bytes(order["code_ciphertext"]))
    reward = Reward(reward_id=int(order["reward_id"]), reward_code=code, reward_pin=pin,
                    reward_amount=str(int(order["amount"])), valid_till=order["valid_till"],
                    currency=order["currency"],
                    id=int(order["card_numeric_id"]) if order.get("card_numeric_id") is not None else None,
                    card_id=order.get("card_id"))
    return OrderPlaced(request_id=first_request_id, order_status=OrderStatus.COMPLETE, reward=reward,
                       order_id=order["order_id"])


def _count_and_log(record: dict[str, Any]) -> None:
    method = DeliveryMethod(int(record["delivery_method"]))
    metrics.add_metric(name="OrderPlaced", unit="Count", value=1)
    metrics.add_metric(name={DeliveryMethod.EMAIL: "RewardOrderedByEmail", DeliveryMethod.API: "RewardOrderedByApi",
                             DeliveryMethod.WALLET: "RewardOrderedIntoWallet"}[method], unit="Count", value=1)
    logger.info("reward ordered", extra={"order_id": record["order_id"], "reward_id": record["reward_id"],
                                         "amount": record["amount"], "delivery_method": record["delivery_method"],
                                         "program_id": record["program_id"],
                                         "delivery_email": mask_email(record["delivery_email"])})


def _today() -> date:
    return datetime.now(timezone.utc).date()
