"""DELETE /webhooks/endpoints/{id}: stop sending to an endpoint; 204 on success."""


from flexigift.api import caller, create_resolver, lambda_entry, no_content
from flexigift.logic.webhooks import delete_endpoint

app = create_resolver(scope="webhooks")


@app.delete("/webhooks/endpoints/<id>", operation_id="delete_webhook_endpoint", responses={204: {"description": "Deleted"}})
def handle(id: str):
    delete_endpoint(caller(app), id)
    return no_content(app)


handler = lambda_entry(app)
