"""GET /webhooks/endpoints/{id}/deliveries: every attempt to deliver to the endpoint, newest first."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.webhooks import list_attempts
from flexigift.models.events import WebhookAttempt

app = create_resolver(scope="webhooks")


@app.get("/webhooks/endpoints/<id>/deliveries", operation_id="list_webhook_deliveries",
         responses={200: {"description": "A page of attempts",
                          "content": {"application/json": {"model": list[WebhookAttempt]}}}})
def handle(id: str, limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[Optional[str], Query()] = None):
    _, page_size, page_cursor = query_params(app, ())
    items, next_cursor = list_attempts(caller(app), id, page_size, page_cursor)
    return page_response(app, items, next_cursor, {}, page_size)


handler = lambda_entry(app)
