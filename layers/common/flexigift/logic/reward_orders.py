"""GET /rewards/orders/{id} and GET /rewards/orders: a program's orders, with their delivery status and
only the last 4 characters of the code."""

from __future__ import annotations

import re
from typing import Any

from flexigift.api import Caller
from flexigift.errors import NotFound
from flexigift.models.rewards import AddressChange, Order
from flexigift.store import rewards as store

ORDER_ID = re.compile(r"^ro_[0-9a-f]{20}$")


def public_order(record: dict[str, Any]) -> Order:
    return Order(
        order_id=record["order_id"], reward_id=int(record["reward_id"]), rewards_name=record["rewards_name"],
        amount=int(record["amount"]), reward_amount=str(int(record["amount"])), currency=record["currency"],
        delivery_method=int(record["delivery_method"]), delivery_email=record.get("delivery_email"),
        order_status=record["order_status"], delivery_status=record["delivery_status"],
        reward_code_last4=record["code_last4"], valid_till=record["valid_till"], created_at=record["created_at"],
        updated_at=record["updated_at"], delivered_at=record.get("delivered_at"),
        failure_reason=record.get("failure_reason"), resend_count=int(record.get("resend_count", 0)),
        address_changes=[AddressChange(**change) for change in record.get("address_changes", [])],
    )


def load_order(order_id: str, who: Caller) -> dict[str, Any]:
    """An order of the caller's program. The key is built from the caller's program, so another program's
    order is not even read: it is as absent as an unknown one (the same 404, the same message)."""
    record = store.get_order(who.program_id, order_id) if ORDER_ID.fullmatch(order_id) else None
    if record is None:
        raise NotFound(f"No rewards order with id {order_id}")
    return record


def get_order(order_id: str, who: Caller) -> Order:
    return public_order(load_order(order_id, who))


def list_orders(who: Caller, limit: int, cursor: str | None) -> tuple[list[Order], str | None]:
    """A page of the program's orders, newest first."""
    records, next_cursor = store.list_orders(who.program_id, limit, cursor)
    return [public_order(r) for r in records], next_cursor
