"""PUT /products/{id}: replace the whole product; fields left out are cleared, as the quick start warns."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.products import replace_product
from flexigift.models.wallet import Product, ProductReplace

app = create_resolver(scope=("issuer",))


@app.put("/products/<id>", operation_id="replace_product", responses={200: {"description": "Replaced", "content": {"application/json": {"model": Product}}}})
def handle(id: ResourceId, body: Annotated[ProductReplace, Body()]):
    return json_response(app, 200, replace_product(caller(app), id, body))


handler = lambda_entry(app)
