"""A gift card's ledger: every balance change, oldest first."""

from __future__ import annotations

from flexigift.errors import NotFound, ValidationFailed, field_error
from flexigift.logic.records import load
from flexigift.models.checkout import Activity, ActivityType
from flexigift.store import ledger, wallet

FILTERS = ("type",)


def list_activities(gift_card_id: int, filters: dict[str, str], limit: int,
                    cursor: str | None) -> tuple[list[Activity], str | None]:
    """One Query reads the page and the card (404 for an unknown card); a page that ends before the card
    (a ledger longer than the page) asks for the card with one GetItem."""
    activity_type = filters.get("type")
    if activity_type is not None and activity_type not in ActivityType.__members__:
        load(wallet.CARD, gift_card_id, "gift card")  # an unknown card is 404 before a bad filter is 422
        allowed = ", ".join(ActivityType.__members__)
        raise ValidationFailed(f"type must be one of {allowed}",
                               fields=[field_error("type", f"must be one of {allowed}", "enum")])
    exists, records, next_cursor = ledger.page_with_card(gift_card_id, activity_type, limit, cursor)
    if exists is None:
        load(wallet.CARD, gift_card_id, "gift card")
    elif not exists:
        raise NotFound(f"No gift card with id {gift_card_id}")
    return [Activity.from_record(r) for r in records], next_cursor
