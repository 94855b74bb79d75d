"""POST /products: register a product."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.products import register_product
from flexigift.models.wallet import Product, ProductCreate

app = create_resolver(scope=("issuer",))


@app.post("/products", operation_id="create_product", responses={201: {"description": "Registered", "content": {"application/json": {"model": Product}}}})
def handle(body: Annotated[ProductCreate, Body()]):
    return json_response(app, 201, register_product(caller(app), body))


handler = lambda_entry(app)
