"""POST /checkout/quote: which of the user's gift cards can pay for the items, and what would remain."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.quote import quote
from flexigift.models.checkout import Quote, QuoteRequest

app = create_resolver(scope="checkout")


@app.post("/checkout/quote", operation_id="checkout_quote",
          responses={200: {"description": "The quote",
                          "content": {"application/json": {"model": Quote}}}})
def handle(body: Annotated[QuoteRequest, Body()]):
    return json_response(app, 200, quote(caller(app).program_id, body))


handler = lambda_entry(app)
