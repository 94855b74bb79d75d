"""POST /payments/{id}/void: release every hold of an authorization (the order was cancelled), once."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry
from flexigift.logic.idempotency import IDEMPOTENCY_HEADER
from flexigift.logic.void import void_payment
from flexigift.models.checkout import Payment

app = create_resolver(scope="checkout")


@app.post("/payments/<id>/void", operation_id="void_payment",
          responses={200: {"description": "Voided (or the void already made under this Idempotency-Key)",
                          "content": {"application/json": {"model": Payment}}}})
def handle(id: str):
    who = caller(app)
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    payment, replayed = void_payment(who, id, key)
    return json_response(app, 200, payment, {"Idempotent-Replayed": str(replayed).lower()})


handler = lambda_entry(app)
