"""DELETE /products/{id}: remove a product; 204 on success."""


from flexigift.api import ResourceId, caller, create_resolver, lambda_entry, no_content
from flexigift.logic.products import delete_product

app = create_resolver(scope=("issuer",))


@app.delete("/products/<id>", operation_id="delete_product", responses={204: {"description": "Deleted"}})
def handle(id: ResourceId):
    delete_product(caller(app), id)
    return no_content(app)


handler = lambda_entry(app)
