"""PATCH /products/{id}: change only the fields sent."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.products import update_product
from flexigift.models.wallet import Product, ProductPatch

app = create_resolver(scope=("issuer",))


@app.patch("/products/<id>", operation_id="update_product", responses={200: {"description": "Updated", "content": {"application/json": {"model": Product}}}})
def handle(id: ResourceId, body: Annotated[ProductPatch, Body()]):
    return json_response(app, 200, update_product(caller(app), id, body))


handler = lambda_entry(app)
