"""GET /products: a page of products, filtered on indexed attributes; next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.products import FILTERS, list_products
from flexigift.models.wallet import Product

app = create_resolver(scope=("wallet:read", "issuer", "checkout"))
OptionalText = Optional[str]


@app.get("/products", operation_id="list_products", responses={200: {"description": "A page", "content": {"application/json": {"model": list[Product]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[OptionalText, Query()] = None,
           product_id: Annotated[OptionalText, Query(description="Only the product with this product_id")] = None,
           eligible_issuer: Annotated[OptionalText, Query(description="Only products this issuer's cards may buy")] = None):
    # the filters above are declared for the OpenAPI spec; query_params reads and checks them
    filters, page_size, page_cursor = query_params(app, FILTERS)
    items, next_cursor = list_products(caller(app), filters, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
