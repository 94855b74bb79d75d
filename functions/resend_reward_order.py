"""POST /rewards/orders/{id}/resend: email an order's code again, optionally to a corrected address."""

from typing import Annotated, Optional

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry, request_id
from flexigift.logic.resend_order import resend_order
from flexigift.models.rewards import OrderEnvelope, ResendRequest

app = create_resolver(scope="rewards:order")


@app.post("/rewards/orders/<id>/resend", operation_id="resend_reward_order", responses={202: {"description": "Queued", "content": {"application/json": {"model": OrderEnvelope}}}})
def handle(id: str, body: Annotated[Optional[ResendRequest], Body()] = None):  # noqa: A002 - the path parameter
    who = caller(app)
    order = resend_order(id, who, body or ResendRequest())
    return json_response(app, 202, OrderEnvelope(request_id=request_id(app), order=order))


handler = lambda_entry(app)
