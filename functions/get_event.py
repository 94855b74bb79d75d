"""GET /events/{id}: one event of the caller's program, as its webhooks carry it."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry
from flexigift.logic.events import get_event
from flexigift.models.events import Event

app = create_resolver(scope="webhooks")


@app.get("/events/<id>", operation_id="get_event",
         responses={200: {"description": "The event", "content": {"application/json": {"model": Event}}}})
def handle(id: str):
    return json_response(app, 200, get_event(caller(app), id))


handler = lambda_entry(app)
