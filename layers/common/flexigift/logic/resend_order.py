"""POST /rewards/orders/{id}/resend: email an order's code again (after a failure, or because the
recipient lost it), optionally to a corrected address. At most `reward_resend_limit` (3) resends of one
order per clock hour, counted by a conditional counter in the same transaction that starts the new round."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flexigift.api import Caller
from flexigift.delivery.queue import enqueue_delivery
from flexigift.errors import Conflict, TooManyRequests
from flexigift.logic.records import commit
from flexigift.logic.reward_orders import load_order, public_order
from flexigift.models.rewards import DeliveryMethod, Order, ResendRequest
from flexigift.observability import logger, mask_email, metrics
from flexigift.settings import get_settings
from flexigift.store import rewards as store
from flexigift.store.table import Transaction
from flexigift.store.wallet import now_iso


def resend_order(order_id: str, who: Caller, body: ResendRequest) -> Order:
    order = load_order(order_id, who)
    if int(order["delivery_method"]) != DeliveryMethod.EMAIL:
        raise Conflict("Only orders delivered by email can be resent; this order's code was in the order's answer")
    if order["delivery_status"] in ("queued", "sending"):
        raise Conflict("This order's email is still being delivered; wait for it to be delivered or fail")
    limit = get_settings().reward_resend_limit
    now = datetime.now(timezone.utc)
    window_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    retry_after = max(1, int((window_end - now).total_seconds()))
    email = str(body.delivery_email) if body.delivery_email else order["delivery_email"]

    tx = Transaction()
    written_at = now_iso()
    store.tx_count_resend(tx, order_id, now.strftime("%Y-%m-%dT%H"), limit, int(window_end.timestamp()) + 3600)
    store.tx_requeue(tx, order, email, written_at)
    commit(tx, {
        "resend_limit": TooManyRequests(f"This order was resent {limit} times this hour; try again later",
                                        headers={"Retry-After": str(retry_after)}),
        "order": Conflict("The order changed while it was being resent; read it and try again"),
    })
    delivery_round = int(order["delivery_round"]) + 1
    try:
        enqueue_delivery(order_id, delivery_round)
    except Exception:
        store.mark_failed(order_id, delivery_round, "The email could not be queued for delivery; resend the order",
                          now_iso())
        logger.exception("reward resend could not be queued", extra={"order_id": order_id})
        raise
    metrics.add_metric(name="RewardResent", unit="Count", value=1)
    logger.info("reward resend queued", extra={"order_id": order_id, "delivery_round": delivery_round,
                                               "delivery_email": mask_email(email),
                                               "address_changed": email != order["delivery_email"]})
    # the answer is the order as the transaction wrote it (the conditions held on what was read): no re-read
    return public_order(store.requeued(order, email, written_at))
