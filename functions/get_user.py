"""GET /users/{id}: one user."""

from flexigift.api import ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.users import get_user
from flexigift.models.wallet import User

app = create_resolver(scope="wallet:read")


@app.get("/users/<id>", operation_id="get_user", responses={200: {"description": "Found", "content": {"application/json": {"model": User}}}})
def handle(id: ResourceId):
    return json_response(app, 200, get_user(caller(app).program_id, id))


handler = lambda_entry(app)
