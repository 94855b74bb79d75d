"""GET /gift_cards/{id}/activities: the card's ledger, oldest first; next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, ResourceId, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.activities import FILTERS, list_activities
from flexigift.models.checkout import Activity

app = create_resolver(scope=("wallet:read", "issuer"))
OptionalText = Optional[str]


@app.get("/gift_cards/<id>/activities", operation_id="list_gift_card_activities",
         responses={200: {"description": "A page",
                         "content": {"application/json": {"model": list[Activity]}}}})
def handle(id: ResourceId, limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[OptionalText, Query()] = None,
           activity_type: Annotated[OptionalText, Query(alias="type", description="Only entries of this type (ACTIVATE, REDEEM, ...)")] = None):
    # the filters above are declared for the OpenAPI spec; query_params reads and checks them
    filters, page_size, page_cursor = query_params(app, FILTERS)
    items, next_cursor = list_activities(caller(app), id, filters, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
