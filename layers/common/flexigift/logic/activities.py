"""A gift card's ledger: every balance change, oldest first."""

from __future__ import annotations

from flexigift.errors import ValidationFailed, field_error
from flexigift.logic.records import load
from flexigift.models.checkout import Activity, ActivityType
from flexigift.store import ledger, wallet

FILTERS = ("type",)


def list_activities(gift_card_id: int, filters: dict[str, str], limit: int,
                    cursor: str | None) -> tuple[list[Activity], str | None]:
    load(wallet.CARD, gift_card_id, "gift card")  # 404 for an unknown card
    activity_type = filters.get("type")
    if activity_type is not None and activity_type not in ActivityType.__members__:
        allowed = ", ".join(ActivityType.__members__)
        raise ValidationFailed(f"type must be one of {allowed}",
                               fields=[field_error("type", f"must be one of {allowed}", "enum")])
    records, next_cursor = ledger.list_page(gift_card_id, activity_type, limit, cursor)
    return [Activity.from_record(r) for r in records], next_cursor
