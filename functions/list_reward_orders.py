"""GET /rewards/orders: the caller's program's orders, newest first; next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.reward_orders import list_orders
from flexigift.models.rewards import Order

app = create_resolver(scope="rewards:read")
OptionalText = Optional[str]


@app.get("/rewards/orders", operation_id="list_reward_orders", responses={200: {"description": "A page", "content": {"application/json": {"model": list[Order]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[OptionalText, Query()] = None):
    who = caller(app)
    filters, page_size, page_cursor = query_params(app, ())
    items, next_cursor = list_orders(who, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
