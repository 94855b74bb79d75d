"""GET /gift_cards/{id}: one gift card."""

from flexigift.api import ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.gift_cards import get_card
from flexigift.models.wallet import GiftCard

app = create_resolver(scope=("wallet:read", "issuer"))


@app.get("/gift_cards/<id>", operation_id="get_gift_card", responses={200: {"description": "Found", "content": {"application/json": {"model": GiftCard}}}})
def handle(id: ResourceId):
    return json_response(app, 200, get_card(caller(app), id))


handler = lambda_entry(app)
