"""DELETE /gift_cards/{id}: remove a gift card; 204 on success."""


from flexigift.api import ResourceId, caller, create_resolver, lambda_entry, no_content
from flexigift.logic.gift_cards import delete_card

app = create_resolver(scope=("issuer",))


@app.delete("/gift_cards/<id>", operation_id="delete_gift_card", responses={204: {"description": "Deleted"}})
def handle(id: ResourceId):
    delete_card(caller(app), id)
    return no_content(app)


handler = lambda_entry(app)
