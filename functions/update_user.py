"""PATCH /users/{id}: change only the fields sent."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.users import update_user
from flexigift.models.wallet import User, UserPatch

app = create_resolver(scope="wallet:write")


@app.patch("/users/<id>", operation_id="update_user", responses={200: {"description": "Updated", "content": {"application/json": {"model": User}}}})
def handle(id: ResourceId, body: Annotated[UserPatch, Body()]):
    return json_response(app, 200, update_user(caller(app).program_id, id, body))


handler = lambda_entry(app)
