"""GET /rewards/orders/{id}: one order of the caller's program, with its delivery status."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry, request_id
from flexigift.logic.reward_orders import get_order
from flexigift.models.rewards import OrderEnvelope

app = create_resolver(scope="rewards:read")


@app.get("/rewards/orders/<id>", operation_id="get_reward_order", responses={200: {"description": "The order", "content": {"application/json": {"model": OrderEnvelope}}}})
def handle(id: str):  # noqa: A002 - the path parameter's name
    who = caller(app)
    return json_response(app, 200, OrderEnvelope(request_id=request_id(app), order=get_order(id, who)))


handler = lambda_entry(app)
