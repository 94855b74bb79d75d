"""A gift card's ledger: every balance change, oldest first."""

from __future__ import annotations

from flexigift.api import Caller
from flexigift.errors import NotFound, ValidationFailed, field_error
from flexigift.logic.authority import require_issuer
from flexigift.logic.records import load
from flexigift.models.checkout import Activity, ActivityType
from flexigift.store import ledger, wallet

FILTERS = ("type",)


def list_activities(who: Caller, gift_card_id: int, filters: dict[str, str], limit: int,
                    cursor: str | None) -> tuple[list[Activity], str | None]:
    """One Query reads the page and the card (404 for an unknown card); a page that ends before the card
    (a ledger longer than the page) asks for the card with one GetItem. An issuer key reads only its own
    issuer's cards' ledgers (the card, read in the same Query, says whose it is)."""
    program_id = who.program_id
    activity_type = filters.get("type")
    if activity_type is not None and activity_type not in ActivityType.__members__:
        card, _ = load(program_id, wallet.CARD, gift_card_id, "gift card")  # 404 before a bad filter's 422
        require_issuer(who, card["issuer"], "gift cards")
        allowed = ", ".join(ActivityType.__members__)
        raise ValidationFailed(f"type must be one of {allowed}",
                               fields=[field_error("type", f"must be one of {allowed}", "enum")])
    found, records, next_cursor = ledger.page_with_card(program_id, gift_card_id, activity_type, limit, cursor)
    if found is False:
        raise NotFound(f"No gift card with id {gift_card_id}")
    card = found if isinstance(found, dict) else load(program_id, wallet.CARD, gift_card_id, "gift card")[0]
    require_issuer(who, card["issuer"], "gift cards")
    return [Activity.from_record(r) for r in records], next_cursor
