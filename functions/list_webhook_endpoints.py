"""GET /webhooks/endpoints: the program's endpoints (never their secrets)."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry, query_params
from flexigift.logic.webhooks import list_endpoints
from flexigift.models.events import WebhookEndpoint

app = create_resolver(scope="webhooks")


@app.get("/webhooks/endpoints", operation_id="list_webhook_endpoints",
         responses={200: {"description": "Every endpoint of the program (at most 16)",
                          "content": {"application/json": {"model": list[WebhookEndpoint]}}}})
def handle():
    query_params(app, (), paged=False)
    return json_response(app, 200, list_endpoints(caller(app)))


handler = lambda_entry(app)
