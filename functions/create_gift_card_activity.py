"""POST /gift_cards/{id}/activities: load or adjust a card's balance (its issuer or an admin), once per
Idempotency-Key."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.adjust_balance import record_activity
from flexigift.logic.idempotency import IDEMPOTENCY_HEADER
from flexigift.models.checkout import BalanceActivity, BalanceActivityCreate

app = create_resolver(scope=("issuer",))


@app.post("/gift_cards/<id>/activities", operation_id="create_gift_card_activity",
          responses={201: {"description": "Recorded (or the activity already recorded under this Idempotency-Key)",
                           "content": {"application/json": {"model": BalanceActivity}}}})
def handle(id: ResourceId, body: Annotated[BalanceActivityCreate, Body()]):
    entry, replayed = record_activity(caller(app), id, body, app.current_event.headers.get(IDEMPOTENCY_HEADER))
    return json_response(app, 201, entry, {"Idempotent-Replayed": str(replayed).lower()})


handler = lambda_entry(app)
