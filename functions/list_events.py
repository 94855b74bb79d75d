"""GET /events: the caller's program's events (30 days), newest first as the event indexer listed them (within
about a second of their change); next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.events import FILTERS, list_events
from flexigift.models.events import Event

app = create_resolver(scope="webhooks")


@app.get("/events", operation_id="list_events",
         responses={200: {"description": "A page", "content": {"application/json": {"model": list[Event]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[Optional[str], Query()] = None,
           event_type: Annotated[Optional[str], Query(alias="type", description="Only events of this type "
                                                                              "(payment.captured, ...)")] = None):
    # the filters above are declared for the OpenAPI spec; query_params reads and checks them
    filters, page_size, page_cursor = query_params(app, FILTERS)
    items, next_cursor = list_events(caller(app), filters, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
