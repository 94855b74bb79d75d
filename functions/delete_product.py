"""DELETE /products/{id}: remove a product; 204 on success."""

from aws_lambda_powertools.event_handler import Response

from flexigift.api import ResourceId, caller, create_resolver, lambda_entry, request_id
from flexigift.logic.products import delete_product

app = create_resolver(scope=("issuer",))


@app.delete("/products/<id>", operation_id="delete_product", responses={204: {"description": "Deleted"}})
def handle(id: ResourceId):
    delete_product(caller(app), id)
    return Response(status_code=204, headers={"X-Request-Id": request_id(app)})


handler = lambda_entry(app)
