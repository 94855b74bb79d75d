"""GET /payments/{id}: a payment with its refunds."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry
from flexigift.logic.payments import get_payment
from flexigift.models.checkout import Payment

app = create_resolver(scope="checkout")


@app.get("/payments/<id>", operation_id="get_payment",
         responses={200: {"description": "The payment",
                         "content": {"application/json": {"model": Payment}}}})
def handle(id: str):
    who = caller(app)
    return json_response(app, 200, get_payment(id, who.program_id))


handler = lambda_entry(app)
