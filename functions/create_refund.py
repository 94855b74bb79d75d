"""POST /payments/{id}/refunds: credit part or all of a payment back to the cards it debited."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.refund import IDEMPOTENCY_HEADER, refund_payment
from flexigift.models.checkout import Refund, RefundCreate

app = create_resolver(scope="checkout")


@app.post("/payments/<id>/refunds", operation_id="create_refund",
          responses={201: {"description": "Refunded",
                          "content": {"application/json": {"model": Refund}}}})
def handle(id: str, body: Annotated[RefundCreate, Body()]):
    who = caller(app)
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    refund, replayed = refund_payment(id, body, key, who.key_id, who.program_id)
    return json_response(app, 201, refund, {"Idempotent-Replayed": str(replayed).lower()})


handler = lambda_entry(app)
