"""POST /webhooks/endpoints: register an endpoint; the answer holds its signing secret, shown this once."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.webhooks import create_endpoint
from flexigift.models.events import WebhookEndpointCreate, WebhookEndpointCreated

app = create_resolver(scope="webhooks")


@app.post("/webhooks/endpoints", operation_id="create_webhook_endpoint",
          responses={201: {"description": "Registered",
                           "content": {"application/json": {"model": WebhookEndpointCreated}}}})
def handle(body: Annotated[WebhookEndpointCreate, Body()]):
    return json_response(app, 201, create_endpoint(caller(app), body))


handler = lambda_entry(app)
