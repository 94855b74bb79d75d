"""GET /products/{id}: one product."""

from flexigift.api import ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.products import get_product
from flexigift.models.wallet import Product

app = create_resolver(scope=("wallet:read", "issuer", "checkout"))


@app.get("/products/<id>", operation_id="get_product", responses={200: {"description": "Found", "content": {"application/json": {"model": Product}}}})
def handle(id: ResourceId):
    return json_response(app, 200, get_product(caller(app), id))


handler = lambda_entry(app)
