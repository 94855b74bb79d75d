"""GET /gift_cards: a page of gift cards, filtered on indexed attributes; next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.gift_cards import FILTERS, list_cards
from flexigift.models.wallet import GiftCard

app = create_resolver(scope=("wallet:read", "issuer"))
OptionalText = Optional[str]


@app.get("/gift_cards", operation_id="list_gift_cards", responses={200: {"description": "A page", "content": {"application/json": {"model": list[GiftCard]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[OptionalText, Query()] = None,
           card_id: Annotated[OptionalText, Query(description="Only the card with this card_id")] = None,
           user_id: Annotated[OptionalText, Query(description="Only this user's cards")] = None,
           issuer: Annotated[OptionalText, Query(description="Only this issuer's cards")] = None):
    # the filters above are declared for the OpenAPI spec; query_params reads and checks them
    filters, page_size, page_cursor = query_params(app, FILTERS)
    items, next_cursor = list_cards(caller(app), filters, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
