"""The rules of a rewards order, as pure functions (no I/O): which delivery method applies, whether an
amount suits a catalog item, when a code expires, what a new code, PIN and order id look like."""

from __future__ import annotations

import calendar
import re
import secrets
from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

from flexigift.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from flexigift.models.rewards import EXPIRATION, DeliveryMethod, OrderRequest, ValueType, denomination_list

# No 0/O, 1/I/L: a code read aloud or copied from an email cannot be misread. 31 symbols, ~4.95 bits each.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS, GROUP_LENGTH = 4, 4
CODE_PATTERN = re.compile(rf"^[{CODE_ALPHABET}]{{{GROUP_LENGTH}}}(-[{CODE_ALPHABET}]{{{GROUP_LENGTH}}}){{{CODE_GROUPS - 1}}}$")
METHOD_NAMES = {DeliveryMethod.API: "API response", DeliveryMethod.EMAIL: "email",
                DeliveryMethod.WALLET: "Flexigift wallet"}


def new_code() -> str:
    """XXXX-XXXX-XXXX-XXXX from a cryptographic source: 16 symbols, about 79 bits."""
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(CODE_GROUPS))
    return "-".join(groups)


def new_pin() -> str:
    return f"{secrets.randbelow(10_000):04d}"


def new_order_id() -> str:
    return "ro_" + secrets.token_hex(10)


def code_last4(code: str) -> str:
    return code[-4:]


def choose_delivery_method(requested: int | None, allowed: Collection[int], program_id: str,
                           has_email: bool) -> DeliveryMethod:
    """The method asked for, if the program allows it. Left out: email (2) when the program allows it
    and there is an address to send to, else the API (1) when allowed; an email-only program without an
    address gets 2 (and the request then fails for the missing delivery_email)."""
    if not allowed:
        raise Forbidden(f"Program '{program_id}' has no delivery method enabled for Giftcard Rewards; "
                        "ask Flexigift support to enable one")
    if requested is None:
        if DeliveryMethod.EMAIL in allowed and (has_email or DeliveryMethod.API not in allowed):
            return DeliveryMethod.EMAIL
        if DeliveryMethod.API not in allowed:   # a wallet-only program: method 3 must be asked for, with user_id
            requested = DeliveryMethod.WALLET
        else:
            return DeliveryMethod.API
    method = DeliveryMethod(requested)
    if method not in allowed:
        names = " and ".join(f"{int(m)} ({METHOD_NAMES[DeliveryMethod(m)]})" for m in sorted(allowed))
        raise Forbidden(f"Program '{program_id}' does not allow delivery_method {int(method)} "
                        f"({METHOD_NAMES[method]}); it allows {names}",
                        fields=[field_error("delivery_method", f"not enabled for program '{program_id}'",
                                            "method_not_allowed")])
    return method


def require_email(method: DeliveryMethod, delivery_email: str | None) -> None:
    if method is DeliveryMethod.EMAIL and not delivery_email:
        raise ValidationFailed("delivery_email is required when the reward is delivered by email (delivery_method 2)",
                               fields=[field_error("delivery_email", "required for delivery_method 2", "missing")])


def check_against_item(body: OrderRequest, item: Mapping[str, Any] | None) -> None:
    """The reward exists (404) and is available, and the amount is one it can be issued for now: the catalog's
    current state, which a refresh may change (409)."""
    if item is None:
        raise NotFound(f"There is no reward {body.reward_id} in the catalog",
                               fields=[field_error("reward_id", "not in the catalog", "unknown_reward")])
    if not item.get("available"):
        raise Conflict(f"Reward {body.reward_id} is not available at the moment",
                               fields=[field_error("reward_id", "not available", "unavailable_reward")])
    low, high = int(item["min_value"]), int(item["max_value"])
    if item["value_type"] == ValueType.FIXED.value:
        allowed = denomination_list(item["denominations"])
        if body.amount not in allowed:
            listed = ", ".join(str(a) for a in allowed)
            raise Conflict(f"Reward {body.reward_id} comes only in these amounts: {listed}",
                                   fields=[field_error("amount", f"must be one of {listed}", "denomination")])
    elif not low <= body.amount <= high:
        raise Conflict(f"Reward {body.reward_id} can be ordered for {low} to {high} {item['currency']}",
                               fields=[field_error("amount", f"must be from {low} to {high}", "range")])


def _add_months(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def valid_till(expiration: str, today: date) -> date:
    """The last day a code is valid, from the item's expiration ("24 Months", "90 Days", "1 Year")."""
    match = EXPIRATION.fullmatch(expiration)
    if match is None:
        raise ValueError(f"unsupported expiration {expiration!r}")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "Day":
        return today + timedelta(days=count)
    if unit == "Week":
        return today + timedelta(weeks=count)
    return _add_months(today, count * (12 if unit == "Year" else 1))
