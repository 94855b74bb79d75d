"""GET /admin/api_keys: the keys issued, without their secrets (admin scope)."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.api_keys import list_keys
from flexigift.models.api_keys import ApiKey

app = create_resolver(scope="admin")


@app.get("/admin/api_keys", operation_id="list_api_keys", responses={200: {"description": "A page", "content": {"application/json": {"model": list[ApiKey]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[Optional[str], Query()] = None):
    _, page_size, page_cursor = query_params(app, ())
    items, next_cursor = list_keys(caller(app), page_size, page_cursor)
    return page_response(app, items, next_cursor, {}, page_size)


handler = lambda_entry(app)
