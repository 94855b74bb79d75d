"""DELETE /users/{id}: remove a user; 204 on success."""


from flexigift.api import ResourceId, caller, create_resolver, lambda_entry, no_content
from flexigift.logic.users import delete_user

app = create_resolver(scope="wallet:write")


@app.delete("/users/<id>", operation_id="delete_user", responses={204: {"description": "Deleted"}})
def handle(id: ResourceId):
    delete_user(caller(app).program_id, id)
    return no_content(app)


handler = lambda_entry(app)
