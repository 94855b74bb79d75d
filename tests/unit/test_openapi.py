"""The committed OpenAPI document (docs/openapi.json) is what the handlers generate, and covers every route."""

from __future__ import annotations

import json

import pytest

from local import openapi

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return openapi.build()


def _operations(spec: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): operation for path, item in spec["paths"].items()
            for method, operation in item.items() if method in METHODS}


def test_the_committed_spec_is_current(spec: dict) -> None:
    # Given the handlers as they are, When the spec is generated afresh
    # Then it is byte for byte the committed one (else: run `make openapi` and commit docs/openapi.json)
    assert openapi.SPEC_PATH.read_text() == openapi.render(spec), "docs/openapi.json is stale: run `make openapi`"


def test_generation_is_deterministic(spec: dict) -> None:
    assert openapi.render(spec) == openapi.render(openapi.build())


def test_every_template_route_is_in_the_spec_with_its_method(spec: dict) -> None:
    # Given template.yaml's routes (without the ANY fallbacks), Then each is an operation of the spec, and the
    # spec has no operation the template does not deploy
    assert set(_operations(spec)) == openapi.template_operations()


def test_every_operation_documents_a_success_and_the_error_shape(spec: dict) -> None:
    for (method, path), operation in _operations(spec).items():
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), f"{method} {path}"
        for status in ("400", "401", "403", "404", "422", "429"):
            assert responses[status] == {"$ref": f"#/components/responses/Error{status}"}, f"{method} {path}"
    for status in ("400", "401", "403", "404", "405", "409", "415", "422", "429"):
        schema = spec["components"]["responses"][f"Error{status}"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["status", "request_id", "error"]
    assert set(error["properties"]["error"]["properties"]["fields"]["items"]["properties"]) == {"field", "message", "type"}


def test_the_api_key_scheme_applies_to_every_operation(spec: dict) -> None:
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        **spec["components"]["securitySchemes"]["ApiKey"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert spec["security"] == [{"ApiKey": []}]
    assert not any("security" in operation for operation in _operations(spec).values())


def test_lists_announce_the_link_header_and_declare_their_filters(spec: dict) -> None:
    operations = _operations(spec)
    expected_filters = {"/users": {"user_id", "amazon_id", "email"}, "/gift_cards": {"card_id", "user_id", "issuer"},
                        "/products": {"product_id", "eligible_issuer"}, "/gift_cards/{id}/activities": {"type"},
                        "/admin/api_keys": set(), "/rewards/orders": set()}
    for path, filters in expected_filters.items():
        operation = operations[("GET", path)]
        assert "Link" in operation["responses"]["200"]["headers"], path
        query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert query == filters | {"limit", "cursor"}, path


def test_idempotency_key_where_the_handlers_read_it(spec: dict) -> None:
    operations = _operations(spec)

    def header(method: str, path: str) -> dict | None:
        found = [p for p in operations[(method, path)].get("parameters", []) if p["in"] == "header"]
        return found[0] if found else None

    assert header("POST", "/payments")["required"] is True
    assert header("POST", "/rewards/order")["required"] is False
    assert header("POST", "/payments/{id}/refunds")["required"] is False
    assert header("POST", "/users") is None


def test_money_in_responses_is_a_json_number(spec: dict) -> None:
    # flexigift.jsonio writes Decimals as numbers; the spec must not promise strings
    schemas = spec["components"]["schemas"]
    assert schemas["GiftCard"]["properties"]["balance"]["type"] == "number"
    assert schemas["Payment"]["properties"]["amount"]["type"] == "number"
    assert json.dumps(spec)  # plain JSON all through
