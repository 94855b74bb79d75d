"""POST /rewards/order: confirm a reward and an amount. Delivery 1 answers with the code (the seed's
reward object), delivery 2 records an email to send (the outbox). Honours an optional Idempotency-Key."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry, request_id
from flexigift.logic.place_order import IDEMPOTENCY_HEADER, place_order
from flexigift.models.rewards import OrderPlaced, OrderRequest

app = create_resolver(scope="rewards:order")


@app.post("/rewards/order", operation_id="create_reward_order", responses={201: {"description": "Ordered", "content": {"application/json": {"model": OrderPlaced}}}})
def handle(body: Annotated[OrderRequest, Body()]):
    who = caller(app)
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    answer, replayed = place_order(body, who, request_id(app), key)
    headers = {"Cache-Control": "no-store", **({"Idempotent-Replayed": "true"} if replayed else {})}
    return json_response(app, 201, answer.to_json(), headers=headers)


handler = lambda_entry(app, clients=("dynamodb", "kms"))
