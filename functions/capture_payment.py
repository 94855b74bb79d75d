"""POST /payments/{id}/capture: capture an authorization, whole or in part (the rest is released), once."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.capture import capture_payment
from flexigift.logic.idempotency import IDEMPOTENCY_HEADER
from flexigift.models.checkout import CaptureRequest, Payment

app = create_resolver(scope="checkout")


@app.post("/payments/<id>/capture", operation_id="capture_payment",
          responses={200: {"description": "Captured (or the capture already made under this Idempotency-Key)",
                          "content": {"application/json": {"model": Payment}}}})
def handle(id: str, body: Annotated[CaptureRequest, Body()]):
    who = caller(app)
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    payment, replayed = capture_payment(who, id, body, key)
    return json_response(app, 200, payment, {"Idempotent-Replayed": str(replayed).lower()})


handler = lambda_entry(app)
