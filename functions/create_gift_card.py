"""POST /gift_cards: register a gift card."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.gift_cards import register_card
from flexigift.models.wallet import GiftCard, GiftCardCreate

app = create_resolver(scope=("issuer",))


@app.post("/gift_cards", operation_id="create_gift_card", responses={201: {"description": "Registered", "content": {"application/json": {"model": GiftCard}}}})
def handle(body: Annotated[GiftCardCreate, Body()]):
    return json_response(app, 201, register_card(caller(app), body))


handler = lambda_entry(app)
