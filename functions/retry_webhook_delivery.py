"""POST /webhooks/endpoints/{id}/deliveries/{event_id}/retry: deliver an event to the endpoint again, now."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry
from flexigift.logic.webhooks import retry_delivery
from flexigift.models.events import WebhookDelivery

app = create_resolver(scope="webhooks")


@app.post("/webhooks/endpoints/<id>/deliveries/<event_id>/retry", operation_id="retry_webhook_delivery",
          responses={202: {"description": "Queued: the delivery is attempted again shortly",
                           "content": {"application/json": {"model": WebhookDelivery}}}})
def handle(id: str, event_id: str):
    return json_response(app, 202, retry_delivery(caller(app), id, event_id))


handler = lambda_entry(app)
