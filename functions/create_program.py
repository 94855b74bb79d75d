"""POST /admin/programs: create a program (the platform's operator key only)."""

from typing import Annotated

from flexigift.api import Body, caller, create_resolver, json_response, lambda_entry
from flexigift.logic.api_keys import create_program
from flexigift.models.api_keys import Program, ProgramCreate

app = create_resolver(scope="admin")


@app.post("/admin/programs", operation_id="create_program",
          responses={201: {"description": "Created", "content": {"application/json": {"model": Program}}}})
def handle(body: Annotated[ProgramCreate, Body()]):
    program = create_program(caller(app), body)
    return json_response(app, 201, program, {"Location": f"/admin/programs/{program.program_id}"})


handler = lambda_entry(app)
