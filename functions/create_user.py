"""POST /users: register a user."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.users import register_user
from flexigift.models.wallet import User, UserCreate

app = create_resolver(scope="wallet:write")


@app.post("/users", operation_id="create_user", responses={201: {"description": "Registered", "content": {"application/json": {"model": User}}}})
def handle(body: Annotated[UserCreate, Body()]):
    return json_response(app, 201, register_user(caller(app).program_id, body))


handler = lambda_entry(app)
