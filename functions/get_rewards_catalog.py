"""GET /rewards/catalog: the Giftcard Rewards available in a country (?country=, default US)."""

from typing import Annotated, Optional

from flexigift.api import Query, create_resolver, json_response, lambda_entry, query_params, request_id
from flexigift.logic.catalog import COUNTRY_DESCRIPTION, COUNTRY_PATTERN, FILTERS, list_catalog
from flexigift.models.rewards import CatalogPage

app = create_resolver(scope="rewards:read")


@app.get("/rewards/catalog", operation_id="get_rewards_catalog", responses={200: {"description": "The catalog", "content": {"application/json": {"model": CatalogPage}}}})
def handle(country: Annotated[Optional[str], Query(pattern=COUNTRY_PATTERN, description=COUNTRY_DESCRIPTION)] = None):
    filters, _, _ = query_params(app, FILTERS, paged=False)  # one answer, no pages: limit and cursor are refused
    catalog = list_catalog(filters.get("country"))
    return json_response(app, 200, CatalogPage(request_id=request_id(app), catalog=catalog))


handler = lambda_entry(app)
