"""DELETE /webhooks/endpoints/{id}: stop sending to an endpoint; 204 on success."""

from aws_lambda_powertools.event_handler import Response

from flexigift.api import caller, create_resolver, lambda_entry, request_id
from flexigift.logic.webhooks import delete_endpoint

app = create_resolver(scope="webhooks")


@app.delete("/webhooks/endpoints/<id>", operation_id="delete_webhook_endpoint", responses={204: {"description": "Deleted"}})
def handle(id: str):
    delete_endpoint(caller(app), id)
    return Response(status_code=204, headers={"X-Request-Id": request_id(app)})


handler = lambda_entry(app)
