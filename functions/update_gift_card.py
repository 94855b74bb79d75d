"""PATCH /gift_cards/{id}: change only the fields sent."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.gift_cards import update_card
from flexigift.models.wallet import GiftCard, GiftCardPatch

app = create_resolver(scope=("issuer",))


@app.patch("/gift_cards/<id>", operation_id="update_gift_card", responses={200: {"description": "Updated", "content": {"application/json": {"model": GiftCard}}}})
def handle(id: ResourceId, body: Annotated[GiftCardPatch, Body()]):
    return json_response(app, 200, update_card(caller(app), id, body))


handler = lambda_entry(app)
