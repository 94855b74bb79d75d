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
import json
import re
import sys
import tomllib
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
    ("post", "/payments/{id}/refunds"): False,
    ("post", "/payments/{id}/capture"): True,
    ("post", "/payments/{id}/void"): True,
    ("post", "/rewards/order"): False,
}


def _import_paths() -> None:
    # as in Lambda: the layer at /opt/python, the functions at /var/task
    for path in (str(LAYER), str(FUNCTIONS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def http_modules() -> list[tuple[str, Any]]:
    """(module name, resolver) of every function that serves routes, in name order."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    _import_paths()
    found = []
    for source in sorted(FUNCTIONS.glob("*.py")):
        if "create_resolver(" not in source.read_text():
            continue
        module = importlib.import_module(source.stem)
        app = getattr(module, "app", None)
        if isinstance(app, APIGatewayRestResolver):
            found.append((source.stem, app))
    return found


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
    required = IDEMPOTENCY.get((method, path))
    if required is not None:
        operation.setdefault("parameters", []).append({
            "name": IDEMPOTENCY_HEADER, "in": "header", "required": required,
            "description": "A unique value per intended operation (a UUID): a retry with the same key and body "
                           "returns the first answer and changes nothing more",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}})


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
