"""POST /rewards/order: confirm a reward and an amount, issue a code, deliver it in the answer (method 1)
or queue it for email (method 2).

The code and PIN are generated here, sealed with KMS and stored only as ciphertext. The delivery queue
gets the order id; the answer of an API order opens the sealed code again (so an idempotent replay answers
exactly as the first time without the code ever being stored in clear, not even in the idempotency record,
which holds only the order id).

Idempotency-Key: Powertools idempotency, its records in the single table (PK IDEMPOTENCY#rewards_order,
SK the hash of caller key id + Idempotency-Key). The same key with the same body returns the first answer
and issues no second code; the same key with another body is refused (422 idempotency_key_reused, as
POST /payments does).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

from flexigift import vault
from flexigift.api import Caller
from flexigift.delivery.queue import enqueue_delivery
from flexigift.errors import Conflict, IdempotencyKeyReused, ValidationFailed, field_error
from flexigift.logic import order_rules as rules
from flexigift.logic.programs import methods_of
from flexigift.models.rewards import DeliveryMethod, OrderPlaced, OrderRequest, OrderStatus, Reward
from flexigift.observability import logger, mask_email, metrics
from flexigift.store import rewards as store
from flexigift.store.wallet import now_iso

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


def place_order(body: OrderRequest, who: Caller, request_id: str, idempotency_key: str | None,
                lambda_context: Any = None) -> tuple[OrderPlaced, bool]:
    """The answer for the order, and whether it is a replay of an earlier request with the same key."""
    _just_placed.clear()  # only this invocation's order may be taken from it
    request = {"caller": who.key_id, "idempotency_key": idempotency_key, "program_id": who.program_id,
               "request_id": request_id, "body": body.model_dump(mode="json")}
    if idempotency_key is None:
        placed = _place(request=request)
    else:
        if not _KEY_PATTERN.fullmatch(idempotency_key):
            raise ValidationFailed(f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters without spaces",
                                   fields=[field_error(IDEMPOTENCY_HEADER, "1-255 printable characters", "pattern")])
        placed = _idempotently(request, lambda_context)
    # a new order was just written by _place (no re-read); a replay reads the order its record names
    order = _just_placed.pop(placed["order_id"], None) or store.get_order(placed["order_id"])
    if order is None:  # the idempotency record outlived its order: cannot happen while orders are kept
        raise Conflict("The order this Idempotency-Key created no longer exists; use a new key")
    replayed = bool(placed.get("replayed"))
    if replayed:
        metrics.add_metric(name="RewardOrderReplayed", unit="Count", value=1)
    return answer_for(order, placed["request_id"]), replayed


# Orders written by _place in this invocation, by order_id, taken by place_order for its answer. _place's
# return value is what the idempotency record keeps (ids only), so the record itself travels here.
_just_placed: dict[str, dict[str, Any]] = {}


def answer_for(order: dict[str, Any], first_request_id: str) -> OrderPlaced:
    """The answer as the order's first request got it (an API order opens its sealed code again)."""
    if int(order["delivery_method"]) == DeliveryMethod.EMAIL:
        return OrderPlaced(request_id=first_request_id, order_status=OrderStatus.PENDING, order_id=order["order_id"])
    code, pin = vault.unseal(order["order_id"], order["code_ciphertext"])
    reward = Reward(reward_id=int(order["reward_id"]), reward_code=code, reward_pin=pin,
                    reward_amount=str(int(order["amount"])), valid_till=order["valid_till"],
                    currency=order["currency"])
    return OrderPlaced(request_id=first_request_id, order_status=OrderStatus.COMPLETE, reward=reward,
                       order_id=order["order_id"])


def _place(*, request: dict[str, Any]) -> dict[str, str]:
    """Validate against the program and the catalog, issue and store the code, queue an email delivery.
    Returns only identifiers: this is what the idempotency record keeps."""
    body = OrderRequest.model_validate(request["body"])
    program_id = request["program_id"]
    program, item = store.get_program_and_reward(program_id, body.reward_id)
    method = rules.choose_delivery_method(body.delivery_method, methods_of(program_id, program), program_id,
                                         has_email=body.delivery_email is not None)
    rules.require_email(method, body.delivery_email)
    rules.check_against_item(body, item)
    assert item is not None  # noqa: S101 - check_against_item refused a missing item

    order_id, code, pin = rules.new_order_id(), rules.new_code(), rules.new_pin()
    now = now_iso()
    email = method is DeliveryMethod.EMAIL
    record = {
        "order_id": order_id,
        "program_id": program_id,
        "key_id": request["caller"],
        "request_id": request["request_id"],
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
    store.insert_order(record)
    if email:
        try:
            enqueue_delivery(order_id, 1)
        except Exception:
            store.mark_failed(order_id, 1, "The email could not be queued for delivery; resend the order", now_iso())
            logger.exception("reward order could not be queued", extra={"order_id": order_id})
            raise
    _just_placed[order_id] = record
    metrics.add_metric(name="OrderPlaced", unit="Count", value=1)
    metrics.add_metric(name="RewardOrderedByEmail" if email else "RewardOrderedByApi", unit="Count", value=1)
    logger.info("reward ordered", extra={"order_id": order_id, "reward_id": body.reward_id, "amount": body.amount,
                                         "delivery_method": int(method), "program_id": program_id,
                                         "delivery_email": mask_email(record["delivery_email"])})
    return {"order_id": order_id, "request_id": request["request_id"]}


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _idempotently(request: dict[str, Any], lambda_context: Any) -> dict[str, str]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = _idempotency_config()
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    try:
        return _idempotent_place(store.idempotency_store())(request=request)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(f"This {IDEMPOTENCY_HEADER} was already used with a different request body; "
                       "use a new key for a new order",
                       fields=[field_error(IDEMPOTENCY_HEADER, "already used with another body",
                                           "idempotency_key_reused")]) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(f"A request with this {IDEMPOTENCY_HEADER} is still being processed; retry in a moment",
                       fields=[field_error(IDEMPOTENCY_HEADER, "in progress", "idempotency_in_progress")],
                       headers={"Retry-After": "1"}) from None


@lru_cache(maxsize=1)
def _idempotency_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="[caller, idempotency_key]", payload_validation_jmespath="body",
                             expires_after_seconds=IDEMPOTENCY_TTL_SECONDS, response_hook=_mark_replayed)


def _mark_replayed(response: dict[str, str], _record: Any) -> dict[str, Any]:
    """Powertools calls this only when it answers from a stored record: a replay."""
    return {**response, "replayed": True}


@lru_cache(maxsize=4)
def _idempotent_place(persistence_store: Any) -> Any:
    """_place wrapped by Powertools for one persistence layer (built when first needed, never at import)."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    return idempotent_function(_place, data_keyword_argument="request", persistence_store=persistence_store,
                               config=_idempotency_config(), key_prefix="rewards_order")
