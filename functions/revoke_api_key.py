"""DELETE /admin/api_keys/{key_id}: revoke a key (admin scope). The record stays, marked REVOKED."""

from flexigift.api import caller, create_resolver, json_response, lambda_entry
from flexigift.logic.api_keys import revoke_key
from flexigift.models.api_keys import ApiKey

app = create_resolver(scope="admin")


@app.delete("/admin/api_keys/<key_id>", operation_id="revoke_api_key", responses={200: {"description": "Revoked", "content": {"application/json": {"model": ApiKey}}}})
def handle(key_id: str):
    return json_response(app, 200, revoke_key(caller(app), key_id))


handler = lambda_entry(app)
