"""PUT /users/{id}: replace the whole user; fields left out are cleared, as the quick start warns."""

from typing import Annotated

from flexigift.api import Body, ResourceId, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.users import replace_user
from flexigift.models.wallet import User, UserReplace

app = create_resolver(scope="wallet:write")


@app.put("/users/<id>", operation_id="replace_user", responses={200: {"description": "Replaced", "content": {"application/json": {"model": User}}}})
def handle(id: ResourceId, body: Annotated[UserReplace, Body()]):
    return json_response(app, 200, replace_user(caller(app).program_id, id, body))


handler = lambda_entry(app)
