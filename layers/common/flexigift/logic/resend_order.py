"""POST /rewards/orders/{id}/resend: email an order's code again, after a failure or because the recipient
lost it. At most `reward_resend_limit` (3) resends of one order per clock hour, counted by a conditional
counter in the same transaction that starts the new round and writes its outbox record (the stream's
relay puts it on the delivery queue; nothing is sent from here).

Codes go where they were sent: a delivered order is resent to the same address only. A new delivery_email
is accepted only for an order whose delivery failed (the address may have been wrong), and the change is
recorded on the order (when, by which API key, both addresses masked)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from flexigift.api import Caller
from flexigift.errors import Conflict, TooManyRequests, field_error
from flexigift.logic.records import commit
from flexigift.logic.reward_orders import load_order, public_order
from flexigift.models.rewards import DeliveryMethod, Order, ResendRequest
from flexigift.observability import logger, mask_email, metrics
from flexigift.settings import get_settings
from flexigift.store import rewards as store
from flexigift.store.table import Transaction
from flexigift.store.wallet import now_iso


def _same_address(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def resend_order(order_id: str, who: Caller, body: ResendRequest) -> Order:
    order = load_order(order_id, who)
    if int(order["delivery_method"]) != DeliveryMethod.EMAIL:
        raise Conflict("Only orders delivered by email can be resent; this order's code was in the order's answer")
    if order["delivery_status"] in ("queued", "sending"):
        raise Conflict("This order's email is still being delivered; wait for it to be delivered or fail")
    current = str(order["delivery_email"])
    asked = str(body.delivery_email) if body.delivery_email else None
    written_at = now_iso()
    change = None
    if asked is not None and not _same_address(asked, current):
        if order["delivery_status"] != "failed":
            raise Conflict(f"This order's code was delivered to {mask_email(current)}; it can be resent only to "
                           "that address. A new delivery_email is accepted only for an order whose delivery "
                           "failed", fields=[field_error("delivery_email", "the code was delivered to another "
                                                                           "address", "address_locked")])
        change = {"changed_at": written_at, "key_id": who.key_id, "old_email": mask_email(current),
                  "new_email": mask_email(asked)}
    email = asked if change is not None and asked is not None else current

    limit = get_settings().reward_resend_limit
    now = datetime.now(timezone.utc)
    window_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    retry_after = max(1, int((window_end - now).total_seconds()))
    delivery_round = int(order["delivery_round"]) + 1

    tx = Transaction()
    store.tx_count_resend(tx, who.program_id, order_id, now.strftime("%Y-%m-%dT%H"), limit,
                          int(window_end.timestamp()) + 3600)
    store.tx_requeue(tx, order, email, written_at, change)
    store.tx_put_outbox(tx, store.outbox_email(who.program_id, order_id, delivery_round, written_at, time.time()))
    changed = Conflict("The order changed while it was being resent; read it and try again")
    commit(tx, {
        "resend_limit": TooManyRequests(f"This order was resent {limit} times this hour; try again later",
                                        headers={"Retry-After": str(retry_after)}),
        "order": changed,
        "outbox": changed,
    })
    metrics.add_metric(name="RewardResent", unit="Count", value=1)
    logger.info("reward resend recorded", extra={"order_id": order_id, "delivery_round": delivery_round,
                                                 "delivery_email": mask_email(email),
                                                 "address_changed": change is not None})
    # the answer is the order as the transaction wrote it (the conditions held on what was read): no re-read
    return public_order(store.requeued(order, email, written_at, change))
