"""The committed OpenAPI document (docs/openapi.json) is what the handlers generate, and covers every route."""

from __future__ import annotations

import json
import re

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
    assert header("POST", "/payments/{id}/refunds")["required"] is True
    assert header("POST", "/gift_cards/{id}/activities")["required"] is True
    assert header("POST", "/users") is None


def test_money_in_responses_is_a_json_number(spec: dict) -> None:
    # flexigift.jsonio writes Decimals as numbers; the spec must not promise strings
    schemas = spec["components"]["schemas"]
    assert schemas["GiftCard"]["properties"]["balance"]["type"] == "number"
    assert schemas["Payment"]["properties"]["amount"]["type"] == "number"
    assert json.dumps(spec)  # plain JSON all through


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_new_operations_are_documented(spec: dict) -> None:
    operations = _operations(spec)
    assert "201" in operations[("POST", "/gift_cards/{id}/activities")]["responses"]
    assert "201" in operations[("POST", "/admin/programs")]["responses"]


def test_money_bounds_are_json_schema_keywords_not_pydantics(spec: dict) -> None:
    # Given pydantic's Decimal schema (anyOf number/string with "ge"/"gt"/"le" beside it, which no validator
    # or generator reads), Then the spec states money as JSON Schema: bounds, 2 decimal places, a pattern
    assert not [node for node in _walk(spec) if {"ge", "gt", "le", "lt"} & set(node) and "anyOf" in node]
    price = spec["components"]["schemas"]["ProductCreate"]["properties"]["price"]["anyOf"]
    assert price[0] == {"type": "number", "multipleOf": 0.01, "maximum": 1000000.0, "exclusiveMinimum": 0}
    pattern = re.compile(price[1]["pattern"])
    assert all(pattern.fullmatch(v) for v in ("0.01", "1", "12.5", "999999.99", "1000000", "1000000.00"))
    assert not any(pattern.fullmatch(v) for v in ("0", "0.00", "-1", "1.234", "1000001", "1e3", "²"))
    balance = spec["components"]["schemas"]["GiftCardCreate"]["properties"]["balance"]["anyOf"][0]
    assert balance["minimum"] == 0


def test_body_rules_the_server_enforces_are_stated(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("UserReplace", "UserPatch", "GiftCardReplace", "GiftCardPatch", "ProductReplace", "ProductPatch"):
        body_id = schemas[name]["properties"]["id"]
        assert body_id["readOnly"] is True and "{id} of the path" in body_id["description"], name
    for name in ("GiftCardReplace", "GiftCardPatch"):
        assert "stored balance" in schemas[name]["properties"]["balance"]["description"]
    for name in ("UserPatch", "GiftCardPatch", "ProductPatch"):
        assert schemas[name]["minProperties"] == 1
        assert "anyOf" not in schemas[name]["properties"]["name" if name != "GiftCardPatch" else "issuer"]
    assert schemas["UserCreate"]["properties"]["name"]["pattern"].startswith("^[^\\x00-\\x1f")
    binding = schemas["ApiKeyCreate"]["allOf"]
    assert binding[1]["then"]["required"] == ["issuer"]
    assert binding[0]["then"]["properties"]["scopes"]["contains"] == {"const": "issuer"}


def test_parameters_state_what_the_edge_enforces(spec: dict) -> None:
    from flexigift import api

    operations = _operations(spec)
    for (method, path), operation in operations.items():
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            branches = [schema, *schema.get("anyOf", [])]
            if parameter["in"] == "path":
                assert any(b.get("pattern") == api.PATH_ID_PATTERN or b.get("maximum") == api.MAX_RESOURCE_ID
                           for b in branches), (method, path, parameter)
            if parameter["name"] == "cursor":
                assert "invalid_cursor" in parameter["description"]
                assert any(b.get("pattern") == "^[A-Za-z0-9_-]+$" for b in branches)
            elif parameter["in"] == "query" and parameter["name"] != "limit":
                assert any(b.get("maxLength") == api.MAX_QUERY_TEXT or "enum" in b or "pattern" in b
                           for b in branches), (method, path, parameter)
    catalog = operations[("GET", "/rewards/catalog")]
    assert {p["name"] for p in catalog["parameters"]} == {"country"}
