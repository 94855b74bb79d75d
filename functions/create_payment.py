"""POST /payments: pay for the items with the shopper's gift cards (captured, or with "capture": false authorized),
once per Idempotency-Key."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.pay import IDEMPOTENCY_HEADER, create_payment
from flexigift.models.checkout import Payment, PaymentCreate

app = create_resolver(scope="checkout")


@app.post("/payments", operation_id="create_payment",
          responses={201: {"description": "Captured or authorized (or the payment already made under this Idempotency-Key)",
                          "content": {"application/json": {"model": Payment}}}})
def handle(body: Annotated[PaymentCreate, Body()]):
    who = caller(app)
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    payment, replayed = create_payment(body, key, who.key_id, who.program_id)
    return json_response(app, 201, payment, {"Location": f"/payments/{payment.id}",
                                             "Idempotent-Replayed": str(replayed).lower()})


handler = lambda_entry(app)
