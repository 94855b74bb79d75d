"""DELETE /gift_cards/{id}: remove a gift card; 204 on success."""

from aws_lambda_powertools.event_handler import Response

from flexigift.api import ResourceId, caller, create_resolver, lambda_entry, request_id
from flexigift.logic.gift_cards import delete_card

app = create_resolver(scope=("issuer",))


@app.delete("/gift_cards/<id>", operation_id="delete_gift_card", responses={204: {"description": "Deleted"}})
def handle(id: ResourceId):
    delete_card(caller(app), id)
    return Response(status_code=204, headers={"X-Request-Id": request_id(app)})


handler = lambda_entry(app)
