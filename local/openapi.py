"""One OpenAPI document for the whole API, made from the handlers' own routes and pydantic models.

Every HTTP function (functions/<module>.py with `app = create_resolver(...)`) is a Powertools resolver
with validation on, which knows its route, parameters and models. This module asks each one for its
OpenAPI schema and merges them, then adds what the resolvers cannot know: the API-key scheme (the
template's REQUEST authorizer reads the Authorization header), the one error shape of flexigift.api,
the Link header of paged lists and the Idempotency-Key header where a handler reads it.

    python -m local.openapi --write    # (re)write docs/openapi.json
    python -m local.openapi --check    # exit 1 when docs/openapi.json is not what --write would write
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

from local import template

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "common"
SPEC_PATH = ROOT / "docs" / "openapi.json"
TITLE = "Flexigift"
ERROR = "Error"
SECURITY_SCHEME = "ApiKey"

# Statuses answered with the one error shape (flexigift.api.error_response, the template's GatewayResponses)
ERROR_STATUSES = {
    400: "Bad request: malformed JSON, unsupported query parameter, invalid cursor, missing header",
    401: "No API key, or an unknown or revoked one",
    403: "The API key lacks the scope this operation needs",
    404: "No such resource",
    405: "Method not allowed on this resource (the Allow header lists those that are)",
    409: "Conflict with the current state (duplicate, insufficient funds, concurrent change)",
    415: "The body is not application/json",
    422: "The request is well-formed but invalid (see error.fields)",
    429: "Too many requests",
}
# Which of them each operation documents. 405 is not among them: it is what an *undocumented* method on a
# documented path answers (functions/route_fallback.py); the component is kept for reference.
_ALWAYS = (400, 401, 403, 404, 422, 429)
_WITH_BODY = (409, 415)
_DELETE = (409,)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Where a handler reads Idempotency-Key, and whether its logic refuses a request without it
# (flexigift.logic.idempotency.check_idempotency_key(required=...), flexigift.logic.place_order).
IDEMPOTENCY = {
    ("post", "/payments"): True,
    ("post", "/payments/{id}/refunds"): True,
    ("post", "/gift_cards/{id}/activities"): True,
    ("post", "/payments/{id}/capture"): True,
    ("post", "/payments/{id}/void"): True,
    ("post", "/rewards/order"): False,
}

CURSOR_DESCRIPTION = (
    "Opaque: the `cursor` of the previous page's Link header, as given (base64url). A cursor the API did not "
    "issue for this listing and this caller's program (malformed, altered into another listing or program) "
    "is a 400 invalid_cursor. It only says where to resume within the caller's own listing, so a well-formed "
    "one the API did not issue can at most skip or repeat items the caller may list anyway.")
# PATCH bodies: something must change, and a field every record has cannot be cleared (flexigift.logic.records)
PATCH_REQUIRED = {"UserPatch": "flexigift.logic.users", "GiftCardPatch": "flexigift.logic.gift_cards",
                  "ProductPatch": "flexigift.logic.products"}
# Text and ShortText: no control characters, and something left once surrounding whitespace is stripped
TEXT_PATTERN = "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f\\x85][^\\x00-\\x1f\\x7f]*$"
# flexigift.models.common.EmailAddress (email-validator) refuses addresses at special-use domains (RFC 6761)
SPECIAL_USE_DOMAIN = "[.@]([Aa][Rr][Pp][Aa]|[Ii][Nn][Vv][Aa][Ll][Ii][Dd]|[Ll][Oo][Cc][Aa][Ll]|[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|[Oo][Nn][Ii][Oo][Nn]|[Tt][Ee][Ss][Tt])$"
BODY_ID = ("The id the service gave the record, which a client may send back as it read it: if sent it must equal "
           "the {id} of the path (422 otherwise). The service owns it; it is never changed.")
BALANCE_AS_STORED = ("Read-only: leave it out, or send the card's stored balance (422 balance_not_settable "
                     "otherwise): a client may send back what it read. Only the ledger moves a balance: "
                     "POST /gift_cards/{id}/activities, payments and refunds.")


def _import_paths() -> None:
    # as in Lambda: the layer at /opt/python, the functions at /var/task
    for path in (str(LAYER), str(FUNCTIONS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def http_modules() -> list[tuple[str, Any]]:
    """(module name, Powertools resolver declaring its routes) of every function that serves routes, in name
    order."""
    _import_paths()
    from flexigift.api import Resolver

    found = []
    for source in sorted(FUNCTIONS.glob("*.py")):
        if "create_resolver(" not in source.read_text():
            continue
        module = importlib.import_module(source.stem)
        app = getattr(module, "app", None)
        if isinstance(app, Resolver):
            found.append((source.stem, declared_to_powertools(app)))
    return found


def declared_to_powertools(app: Any) -> Any:
    """The operation's routes declared to Powertools' resolver, whose OpenAPI generator writes the spec from the
    parameters' types and the responses' models. Only here, at build time: the handlers themselves run on
    flexigift.api's resolver, which spares every cold start Powertools' resolver imports."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.event_handler.openapi import params

    from local.pydantic_twin import in_pydantic

    markers = {"path": params.Path, "query": params.Query, "body": params.Body}
    resolver = APIGatewayRestResolver(enable_validation=True)
    for route in app.routes:
        parameters = []
        for argument in route.arguments:
            annotation = argument.annotation
            if typing.get_origin(annotation) is typing.Annotated:
                declared = in_pydantic(typing.get_args(annotation)[0])
                annotation = typing.Annotated[declared, markers[argument.marker.where](**argument.marker.spec)]
            parameters.append(inspect.Parameter(argument.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                default=argument.default, annotation=annotation))

        def operation(**_: Any) -> None:
            """Stands for the handler: only its signature is read."""

        operation.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        operation.__name__ = route.function.__name__
        operation.__doc__ = route.function.__doc__
        resolver.route(route.path, route.method, **in_pydantic(route.options))(operation)
    return resolver


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def error_schema() -> dict[str, Any]:
    text = {"type": "string"}
    field = {"type": "object", "required": ["field", "message", "type"], "title": "ErrorField",
             "properties": {"field": {**text, "description": "The parameter, header or body field at fault"},
                            "message": text, "type": {**text, "description": "A machine-readable reason"}}}
    return {
        "type": "object", "title": ERROR, "required": ["status", "request_id", "error"],
        "description": "The one error shape of every refusal, from a handler or from API Gateway",
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "request_id": {**text, "description": "Quote it when reporting a problem"},
            "error": {"type": "object", "required": ["code", "message", "fields"],
                      "properties": {"code": text, "message": text,
                                     "fields": {"type": "array", "items": field}}},
        },
    }


def _error_response(status: int) -> dict[str, Any]:
    return {"description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}}}


def _merge_components(target: dict[str, Any], source: dict[str, Any], origin: str) -> None:
    for kind, entries in source.items():
        bucket = target.setdefault(kind, {})
        for name, schema in entries.items():
            if name in bucket and bucket[name] != schema:
                raise ValueError(f"components.{kind}.{name} from {origin} differs from another handler's; "
                                 "give one of the models another name")
            bucket[name] = schema


def _paged(module: str) -> bool:
    return "page_response(" in (FUNCTIONS / f"{module}.py").read_text()


def _describe(operation: dict[str, Any], path: str, docstring: str | None) -> None:
    """Summary and description from the handler module's docstring ("GET /users: a page of users...")."""
    text = (docstring or "").strip()
    if text:
        first, _, rest = text.partition("\n")
        summary = (first.split(": ", 1)[1] if ": " in first else first).rstrip(".").split(". ")[0]
        operation["summary"] = summary[:1].upper() + summary[1:]
        operation["description"] = " ".join(text.split())
    operation["tags"] = [path.strip("/").split("/")[0]]


def _finish_operation(method: str, path: str, operation: dict[str, Any], paged: bool) -> None:
    responses = operation["responses"]
    responses.pop("422", None)  # Powertools' HTTPValidationError: our handlers answer the one error shape
    successes = [s for s in responses if s.startswith("2")]
    if not successes:
        raise ValueError(f"{method.upper()} {path} documents no success response: give its route responses=")
    statuses = [*_ALWAYS, *(_WITH_BODY if "requestBody" in operation or method in ("post", "put", "patch") else ()),
                *(_DELETE if method == "delete" else ())]
    for status in sorted(set(statuses)):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    for status in successes:
        headers = responses[status].setdefault("headers", {})
        headers["X-Request-Id"] = {"description": "The request's id (also in error bodies)",
                                   "schema": {"type": "string"}}
        if paged:
            headers["Link"] = {"description": 'The next page, if any (RFC 8288): <url>; rel="next"',
                               "schema": {"type": "string"}}
    _constrain_parameters(operation)
    required = IDEMPOTENCY.get((method, path))
    if required is not None:
        operation.setdefault("parameters", []).append({
            "name": IDEMPOTENCY_HEADER, "in": "header", "required": required,
            "description": "A unique value per intended operation (a UUID): a retry with the same key and body "
                           "returns the first answer and changes nothing more",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}})


def _constrain_parameters(operation: dict[str, Any]) -> None:
    """What flexigift.api enforces on path and query parameters before any handler logic (from its constants):
    a string path parameter is an id the API issues (else 404); a text filter is bounded text (else 422);
    the cursor is opaque (else 400)."""
    _import_paths()
    from flexigift import api

    for parameter in operation.get("parameters", []):
        schema = parameter.setdefault("schema", {})
        where, name = parameter["in"], parameter["name"]
        if where == "path" and schema.get("type") == "string":
            schema.update(pattern=api.PATH_ID_PATTERN, minLength=1, maxLength=64)
            parameter.setdefault("description", "An id the service issued; anything else names no resource (404)")
        elif where == "path" and schema.get("type") == "integer":
            parameter["description"] = (f"{parameter.get('description', '')}; from 1 to {api.MAX_RESOURCE_ID} "
                                        "(anything else names no resource: 404)").lstrip("; ")
        if where != "query":
            continue
        text = next((b for b in [schema, *schema.get("anyOf", [])] if b.get("type") == "string"), None)
        if text is None:
            continue
        if name == "cursor":
            text.update(pattern="^[A-Za-z0-9_-]+$", minLength=1, maxLength=MAX_CURSOR_LENGTH)
            parameter["description"] = CURSOR_DESCRIPTION
        elif name == "type" and operation.get("operationId") == "list_gift_card_activities":
            from flexigift.models.checkout import ActivityType

            text["enum"] = list(ActivityType.__members__)
        elif name == "type" and operation.get("operationId") == "list_events":
            from flexigift.models.events import EventType

            text["enum"] = [t.value for t in EventType]
        elif "pattern" not in text and "enum" not in text:
            text.update(maxLength=api.MAX_QUERY_TEXT, pattern=api.QUERY_TEXT_PATTERN)


MAX_CURSOR_LENGTH = 8192  # flexigift.store.wallet.MAX_CURSOR_LENGTH (not imported: the store imports boto3)


# Pydantic writes a Decimal's bounds as "ge"/"gt"/"le" next to anyOf [number, string] (they are no JSON
# Schema keywords, and a validator or a generator ignores them). Money is stated as what
# flexigift.models.common.Money accepts: a JSON number with at most 2 decimal places, or a decimal string.
_MONEY_STRING = {  # at most 1000000, at most 2 decimal places; > 0 where the amount must be positive
    "ge": r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,2})?$|^1000000(\.00?)?$",
    "gt": r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,5}(\.[0-9]{1,2})?|1000000(\.00?)?)$",
}


def _standard_money(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _standard_money(item)
        return
    if not isinstance(node, dict):
        return
    branches = node.get("anyOf")
    if branches and {"ge", "gt", "le"} & set(node) and [b.get("type") for b in branches] == ["number", "string"]:
        positive = "gt" in node and float(node["gt"]) == 0
        number: dict[str, Any] = {"type": "number", "multipleOf": 0.01, "maximum": float(node.get("le", 1000000))}
        number["exclusiveMinimum" if positive else "minimum"] = 0
        for bound in ("ge", "gt", "le"):
            node.pop(bound, None)
        node["anyOf"] = [number, {"type": "string", "pattern": _MONEY_STRING["gt" if positive else "ge"]}]
        node.setdefault("description", "Money: a JSON number with at most 2 decimal places, or the same as a string"
                        + (", more than 0" if positive else ""))
    for value in node.values():
        _standard_money(value)


def _state_body_rules(schemas: dict[str, Any]) -> None:
    """Rules of request bodies that pydantic's schema leaves out, stated where JSON Schema can say them."""
    _import_paths()
    for name, schema in schemas.items():
        properties = schema.get("properties", {})
        if name in PATCH_REQUIRED:
            required = importlib.import_module(PATCH_REQUIRED[name]).REQUIRED
            schema["minProperties"] = 1
            for field in required:
                branches = properties.get(field, {}).get("anyOf")
                if branches and {"type": "null"} in branches:
                    kept = [b for b in branches if b != {"type": "null"}]
                    outer = {k: v for k, v in properties[field].items() if k != "anyOf"}
                    properties[field] = {**(kept[0] if len(kept) == 1 else {"anyOf": kept}), **outer}
            schema["description"] = ("PATCH: the fields to change, at least one; a field every record has cannot "
                                     "be set to null.")
        if name.endswith(("Replace", "Patch")) and "id" in properties:
            properties["id"] = {**properties["id"], "readOnly": True, "description": BODY_ID}
        if name.startswith("GiftCard") and name.endswith(("Replace", "Patch")) and "balance" in properties:
            properties["balance"] = {**properties["balance"], "readOnly": True, "description": BALANCE_AS_STORED}
        for value in properties.values():  # flexigift.models.common.Text and ShortText
            for branch in [value, *value.get("anyOf", [])]:
                if (schema.get("additionalProperties") is False and branch.get("type") == "string"
                        and branch.get("minLength") == 1 and not {"pattern", "format", "enum"} & set(branch)):
                    branch["pattern"] = TEXT_PATTERN
            for branch in [value, *value.get("anyOf", [])]:  # email-validator refuses special-use domains
                if schema.get("additionalProperties") is False and branch.get("format") == "email":
                    branch["not"] = {"pattern": SPECIAL_USE_DOMAIN}
        if name == "PaymentCreate" or name == "QuoteRequest":  # a product once, with its quantity
            items = properties.get("items", {})
            if items.get("type") == "array":
                items["uniqueItems"] = True
                items["description"] = "Each product once (give it once with a quantity; 422 otherwise)"
        for field in ("gift_cards", "cards"):  # flexigift.models.common.distinct_card_ids
            listed = properties.get(field)
            for branch in [listed, *(listed or {}).get("anyOf", [])] if listed else []:
                if branch.get("type") == "array":
                    branch["uniqueItems"] = True
    for name in ("QuoteRequest", "PaymentCreate"):  # flexigift.models.checkout.QuoteRequest._one_shopper
        if name in schemas:
            schemas[name]["oneOf"] = [{"required": [field], "properties": {field: {"type": "string"}}}
                                      for field in ("user_id", "amazon_id")]
    if "PaymentCreate" in schemas:  # flexigift.models.checkout.PaymentCreate._hold_only_when_authorizing
        schemas["PaymentCreate"]["if"] = {"required": ["hold_seconds"],
                                          "properties": {"hold_seconds": {"type": "integer"}}}
        schemas["PaymentCreate"]["then"] = {"required": ["capture"], "properties": {"capture": {"const": False}}}
    if "OrderRequest" in schemas:  # flexigift.models.rewards.OrderRequest: user_id with method 3 and only then
        named = {"required": ["user_id"], "properties": {"user_id": {"type": "string"}}}
        schemas["OrderRequest"]["if"] = {"required": ["delivery_method"], "properties": {"delivery_method": {"const": 3}}}
        schemas["OrderRequest"]["then"] = named
        schemas["OrderRequest"]["else"] = {"not": named}
    key = schemas.get("ApiKeyCreate")
    if key is not None:  # flexigift.models.api_keys.ApiKeyCreate._issuer_binding
        named = {"required": ["issuer"], "properties": {"issuer": {"type": "string"}}}
        key["allOf"] = [
            {"if": named, "then": {"properties": {
                "scopes": {"contains": {"const": "issuer"}, "not": {"contains": {"const": "admin"}}},
                "operator": {"const": False}}}},
            {"if": {"required": ["scopes"], "properties": {"scopes": {"contains": {"const": "issuer"}},
                                                           "operator": {"const": False}}},
             "then": named},
        ]


# A create whose resource is then found at another path than its own collection's, and the answer's field
# that names it there (every other create answers `id`, or the path parameter's own name, e.g. key_id).
CREATED_ELSEWHERE = {"/rewards/order": ("/rewards/orders/{id}", "order_id")}


def _link_creates(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from each create's 201 to the operations on what it made, with the id its answer
    carries: POST /users -> GET/PUT/PATCH/DELETE /users/{id}, POST /payments -> POST /payments/{id}/refunds.
    Clients read them as documentation; schemathesis follows them to chain real calls."""
    for path, operations in paths.items():
        created = (operations.get("post") or {}).get("responses", {}).get("201")
        if created is None:
            continue
        home, field = CREATED_ELSEWHERE.get(path, (None, None))
        links = {}
        for other, other_operations in sorted(paths.items()):
            names = re.findall(r"{(\w+)}", other)
            if len(names) != 1:
                continue
            resource = other[:other.index("}") + 1]
            if resource != (home or f"{path}/{{{names[0]}}}"):
                continue
            for operation in other_operations.values():
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {names[0]: f"$response.body#/{field or names[0]}"}}
        if links:
            created["links"] = links


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for module, app in http_modules():
        schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=version()))
        for path, operations in (schema.get("paths") or {}).items():
            for method, operation in operations.items():
                if method in paths.get(path, {}):
                    raise ValueError(f"{method.upper()} {path} is served by two handlers ({module} and another)")
                _describe(operation, path, sys.modules[module].__doc__)
                _finish_operation(method, path, operation, _paged(module))
                paths.setdefault(path, {})[method] = operation
        _merge_components(components, schema.get("components") or {}, module)
    _link_creates(paths)
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    _standard_money(schemas)
    _state_body_rules(schemas)
    schemas[ERROR] = error_schema()
    components["responses"] = {f"Error{status}": _error_response(status) for status in ERROR_STATUSES}
    components["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "An API key (fgk_...), as is or after 'Bearer '; each operation needs one scope"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version(),
                 "description": "Spend third-party gift cards at checkout, and the Giftcard Rewards API. "
                                "Generated from the handlers by `make openapi`; do not edit by hand."},
        "servers": [{"url": "/"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": components,
    }


def render(spec: dict[str, Any] | None = None) -> str:
    """Stable text: sorted keys, two-space indent, a final newline."""
    return json.dumps(build() if spec is None else spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def template_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of template.yaml's routes, without the ANY fallbacks."""
    return {(r.method, r.path) for r in template.routes() if r.method != "ANY"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.openapi", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"write {SPEC_PATH.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="fail if the committed spec is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        SPEC_PATH.parent.mkdir(parents=True, exist_ok=True)
        SPEC_PATH.write_text(text)
        print(f"wrote {SPEC_PATH.relative_to(ROOT)}")
        return 0
    current = SPEC_PATH.read_text() if SPEC_PATH.exists() else ""
    if current != text:
        print(f"{SPEC_PATH.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
        return 1
    print(f"{SPEC_PATH.relative_to(ROOT)} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
