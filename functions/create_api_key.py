"""POST /admin/api_keys: issue an API key (admin scope). The secret is in this response only."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.api_keys import issue_key
from flexigift.models.api_keys import ApiKeyCreate, IssuedApiKey

app = create_resolver(scope="admin")


@app.post("/admin/api_keys", operation_id="create_api_key", responses={201: {"description": "Issued", "content": {"application/json": {"model": IssuedApiKey}}}})
def handle(body: Annotated[ApiKeyCreate, Body()]):
    return json_response(app, 201, issue_key(caller(app), body), headers={"Cache-Control": "no-store"})


handler = lambda_entry(app)
