"""GET /users: a page of users, filtered on indexed attributes; next page in the Link header."""

from typing import Annotated, Optional

from flexigift.api import Query, caller, create_resolver, lambda_entry, page_response, query_params
from flexigift.logic.users import FILTERS, list_users
from flexigift.models.wallet import User

app = create_resolver(scope="wallet:read")
OptionalText = Optional[str]


@app.get("/users", operation_id="list_users", responses={200: {"description": "A page", "content": {"application/json": {"model": list[User]}}}})
def handle(limit: Annotated[Optional[int], Query(ge=1, le=100)] = None,
           cursor: Annotated[OptionalText, Query()] = None,
           user_id: Annotated[OptionalText, Query(description="Only the user with this user_id")] = None,
           amazon_id: Annotated[OptionalText, Query(description="Only users with this Amazon id")] = None,
           email: Annotated[OptionalText, Query(description="Only users with this email")] = None):
    # the filters above are declared for the OpenAPI spec; query_params reads and checks them
    filters, page_size, page_cursor = query_params(app, FILTERS)
    items, next_cursor = list_users(caller(app).program_id, filters, page_size, page_cursor)
    return page_response(app, items, next_cursor, filters, page_size)


handler = lambda_entry(app)
