"""PUT /gift_cards/{id}: replace the whole gift card; fields left out are cleared, as the quick start warns."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.gift_cards import replace_card
from flexigift.models.wallet import GiftCard, GiftCardReplace

app = create_resolver(scope=("issuer",))


@app.put("/gift_cards/<id>", operation_id="replace_gift_card", responses={200: {"description": "Replaced", "content": {"application/json": {"model": GiftCard}}}})
def handle(id: ResourceId, body: Annotated[GiftCardReplace, Body()]):
    return json_response(app, 200, replace_card(caller(app), id, body))


handler = lambda_entry(app)
