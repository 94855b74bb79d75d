"""flexigift.api.Resolver, the one-operation resolver every HTTP handler runs on: how it binds the declared
parameters, and that every failure is the one error shape with a 4xx (a 500 only for our own faults, never
with the cause). No network, no table: a resolver with routes of its own."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import pytest

from flexigift import api
from flexigift.errors import Conflict
from flexigift.models.common import RequestModel
from flexigift.shapes import Field


class Thing(RequestModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


seen: dict = {}
app = api.create_resolver(scope="wallet:read")


@app.get("/things/<id>", operation_id="get_thing")
def get_thing(id: api.ResourceId, limit: Annotated[Optional[int], api.Query(ge=1, le=100)] = None,  # noqa: A002
              country: Annotated[Optional[str], api.Query(pattern=r"^[A-Z]{2}$")] = None):
    seen.update(id=id, limit=limit, country=country, key=app.current_event.headers.get("idempotency-key"))
    return api.json_response(app, 200, {"id": id})


@app.post("/things", operation_id="create_thing")
def create_thing(body: Annotated[Thing, api.Body()]):
    if body.name == "taken":
        raise Conflict("That name is taken")
    if body.name == "boom":
        raise RuntimeError("a bug of ours, with a secret: fgk_not-to-be-shown")
    return api.json_response(app, 201, body.model_dump())


@app.post("/things/<id>/notes", operation_id="note_thing")
def note_thing(id: str, body: Annotated[Optional[Thing], api.Body()] = None):  # noqa: A002
    return api.json_response(app, 200, {"id": id, "note": body.model_dump() if body else None})


def _event(method: str, path: str, query: dict | None = None, body: str | None = None, headers: dict | None = None):
    return {"httpMethod": method, "path": path, "queryStringParameters": query, "body": body,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "requestContext": {"requestId": "req-1"}}


def _resolve(*args, **kwargs) -> tuple[int, dict]:
    answer = app.resolve(_event(*args, **kwargs), None)
    assert answer["headers"].get("X-Request-Id") == "req-1"
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else {}


def test_declared_parameters_are_bound_and_converted():
    status, body = _resolve("GET", "/things/42", {"limit": "7", "country": "US"}, headers={"Idempotency-Key": "k1"})
    assert (status, body) == (200, {"id": 42})
    assert seen == {"id": 42, "limit": 7, "country": "US", "key": "k1"}  # headers in any letter case
    status, _ = _resolve("GET", "/things/42")
    assert status == 200 and seen["limit"] is None and seen["country"] is None


@pytest.mark.parametrize("path", ["/things/0", "/things/abc", "/things/-1", "/things/1.5", f"/things/{2**53}",
                                  "/things/42/extra", "/nothing", "/things/"])
def test_a_path_that_names_no_resource_is_404(path):
    status, body = _resolve("GET", path)
    assert status == 404 and body["error"]["code"] == "not_found"


def test_a_method_the_route_does_not_serve_is_404():
    assert _resolve("DELETE", "/things/42")[0] == 404


@pytest.mark.parametrize("query, field", [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                                          ({"limit": "x"}, "limit"), ({"limit": "²"}, "limit"),
                                          ({"country": "usa"}, "country")])
def test_a_query_value_outside_its_declaration_is_422_naming_it(query, field):
    status, body = _resolve("GET", "/things/1", query)
    assert status == 422 and body["error"]["code"] == "validation_failed"
    assert [f["field"] for f in body["error"]["fields"]] == [field]


def test_a_body_is_parsed_into_its_model():
    status, body = _resolve("POST", "/things", body='{"name": "lamp", "count": 2}')
    assert (status, body) == (201, {"name": "lamp", "count": 2})


@pytest.mark.parametrize("raw, status, code, fields", [
    (None, 400, "malformed_json", ["body"]),                       # no body where one is required
    ('{"name": "lamp"', 400, "malformed_json", ["body"]),          # not JSON
    ('{"name": "", "count": -1}', 422, "validation_failed", ["name", "count"]),
    ('{"name": "lamp", "count": 1, "extra": 1}', 422, "validation_failed", ["extra"]),
    ('[1, 2]', 422, "validation_failed", ["body"]),
])
def test_a_bad_body_is_refused_with_the_fields_at_fault(raw, status, code, fields):
    answer_status, body = _resolve("POST", "/things", body=raw)
    assert answer_status == status and body["error"]["code"] == code
    assert [f["field"] for f in body["error"]["fields"]] == fields


def test_an_optional_body_may_be_left_out():
    assert _resolve("POST", "/things/t1/notes") == (200, {"id": "t1", "note": None})


def test_domain_errors_keep_their_status_and_a_bug_is_a_500_without_its_cause():
    status, body = _resolve("POST", "/things", body='{"name": "taken", "count": 1}')
    assert status == 409 and body["error"]["code"] == "conflict"
    status, body = _resolve("POST", "/things", body='{"name": "boom", "count": 1}')
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert "fgk_" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)


def test_a_fallback_answers_what_no_route_serves():
    fallback = api.create_resolver(scope=api.ANY_KEY)
    fallback.not_found(lambda _exc: api.error_response(fallback, 405, "method_not_allowed", "no"))
    answer = fallback.resolve(_event("PUT", "/anything"), None)
    assert answer["statusCode"] == 405
