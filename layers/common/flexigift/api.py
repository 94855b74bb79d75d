"""The HTTP edge shared by every handler: the operation's resolver, caller identity and scopes, the one
error shape, JSON responses with Decimal money, pagination links. Nothing else builds an HTTP response.

The resolver is the project's own, not Powertools' APIGatewayRestResolver: each function serves one
operation, so routing is one pattern; what a request needs is its parameters bound and checked (a path id,
query text, a body parsed into its model (flexigift.shapes)) and every failure turned into the one error shape.
Powertools' resolver cost each cold start about 35 ms of imports (every resolver kind, its event classes,
its OpenAPI machinery) and pydantic work at route registration, which a one-route function never uses. The
routes are declared as before (`@app.get(path, operation_id=..., responses=...)`, parameters as
`Annotated[type, Query(...)]`), and `make openapi` (local/openapi.py) hands the same declarations to
Powertools' OpenAPI generator, which is where its models of parameters earn their keep."""

from __future__ import annotations

import base64
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable
from urllib.parse import urlencode

from aws_lambda_powertools.logging import correlation_paths

from flexigift import jsonio
from flexigift.aws import register_restore_hook, warm
from flexigift.errors import (
    FlexigiftError,
    InvalidCursor,
    Unauthorized,
    UnsupportedFilter,
    ValidationFailed,
    field_error,
)
from flexigift.observability import logger, metrics, tracer
from flexigift.settings import get_settings

JSON = "application/json"


class Param:
    """Where an operation's parameter comes from, with what it must satisfy (ge, le, pattern) and what the
    OpenAPI spec says of it (description). Declared as `Annotated[int, Query(ge=1, le=100)]`."""

    where = ""

    def __init__(self, **spec: Any) -> None:
        self.spec = spec


class Path(Param):
    where = "path"


class Query(Param):
    where = "query"


class Body(Param):
    where = "body"


# The {id} of /users/{id}, /gift_cards/{id}, /products/{id}: the service numbers them from 1. Anything else
# names no resource (404, as an unknown id).
MAX_RESOURCE_ID = 2**53 - 1  # the largest integer a JSON client (a JavaScript number) holds exactly
ResourceId = Annotated[int, Path(ge=1, le=MAX_RESOURCE_ID,
                                 description="The number the service gave the resource when it was created")]

# What the edge accepts, before any handler runs (local/openapi.py states the same in the spec):
# - a path parameter (a numeric id, a payment id pay_..., an order id ro_..., a key id key_...) is 1 to 64
#   ASCII letters, digits and ._:@- starting with a letter or digit; anything else names no resource (404);
# - a query parameter's value is at most MAX_QUERY_TEXT characters of text without control characters
#   (a longer one could match no stored value, and would make a DynamoDB key longer than it allows), else 422;
# - `limit` is ASCII digits only ('²'.isdigit() is True, int('²') fails), 1..max_page_size, else 422;
# - `cursor` is checked by the store (flexigift.store.wallet.decode_cursor): a malformed one is a 400.
PATH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
MAX_QUERY_TEXT = 256
QUERY_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_PATH_ID = re.compile(PATH_ID_PATTERN, re.ASCII)
_QUERY_TEXT = re.compile(QUERY_TEXT_PATTERN)
_LIMIT = re.compile(r"[0-9]{1,4}", re.ASCII)


ADMIN_SCOPE = "admin"
ANY_KEY = "*"   # declared by the route fallback alone: any valid key may learn that a route does not exist


def create_resolver(scope: str | tuple[str, ...] | None = None) -> Resolver:
    """A resolver for one operation. `scope` is the API-key scope the operation needs (or a tuple of
    scopes, any of which will do; `admin` always will, within its own program). It is checked before the
    body is even read, so a key without it gets 403 whatever it sends. A resolver that declares no scope
    refuses every request (fail closed); only the authorizer and the route fallback have none, and they
    are not resolvers."""
    return Resolver((scope,) if isinstance(scope, str) else tuple(scope or ()))


def lambda_entry(app: Resolver, clients: tuple[str, ...] = ("dynamodb",)) -> Callable[[dict, Any], dict]:
    """The Lambda handler of an HTTP function: logger (request id as correlation id), metrics, tracer. Called
    at import, so in Lambda it also warms the function's `clients` during init (flexigift.aws.warm) and
    registers SnapStart's after-restore hook."""
    warm(*clients)
    register_restore_hook()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict, context: Any) -> dict:
        refused = _refuse_before_routing(event, app.required_scopes)
        return refused if refused is not None else app.resolve(event, context)

    return handler


def _refuse_before_routing(event: dict, scopes: tuple[str, ...]) -> dict | None:
    """Checks made on the raw event, before the resolver reads the body: the caller's scope (401/403
    must not depend on what the body holds), then the media type (curl -d without -H sends a form): none,
    or a JSON media type in any letter case, is read as JSON."""
    request = str((event.get("requestContext") or {}).get("requestId", ""))
    context = _authorizer_context(event)
    if not context.get("key_id") or not context.get("program_id"):
        return _raw_error(request, 401, "unauthorized", "A valid API key is required in the Authorization header")
    if not scopes:
        return _raw_error(request, 403, "forbidden", "This operation declares no scope: no API key may call it")
    held = _scopes(context)
    if ANY_KEY not in scopes and held.isdisjoint((*scopes, ADMIN_SCOPE)):
        needed = " or ".join(f"'{s}'" for s in scopes)
        return _raw_error(request, 403, "forbidden", f"This API key lacks the {needed} scope needed for this operation")
    for value in (event.get("pathParameters") or {}).values():
        if not isinstance(value, str) or not _PATH_ID.fullmatch(value):
            return _raw_error(request, 404, "not_found", "No such resource")
    repeated = _repeated(event.get("multiValueQueryStringParameters") or {})
    if repeated:  # the resolver reads one value of each parameter: a repeated one is refused, not half-read
        return _raw_error(request, 400, "unsupported_filter", f"Give each query parameter once: {', '.join(repeated)}",
                          [field_error(n, "given more than once", "repeated") for n in repeated])
    if not event.get("body"):
        return None
    headers = event.get("headers") or {}
    name = next((k for k in headers if str(k).lower() == "content-type"), None)
    media_type = str(headers.get(name, "")).split(";", 1)[0].strip().lower() if name else ""
    if not media_type or media_type == JSON or media_type.endswith("+json"):
        return _refuse_non_utf8(event, request)
    return _raw_error(request, 415, "unsupported_media_type",
                      f"Content-Type {media_type} is not accepted; send application/json",
                      [field_error("Content-Type", "must be application/json", "media_type")])


def _refuse_non_utf8(event: dict, request: str) -> dict | None:
    """JSON is UTF-8. API Gateway hands a body that is not valid UTF-8 over base64-encoded, and the
    resolver's decoding of it would fail with a 500 (found by fuzzing): it is a malformed body, a 400."""
    if not event.get("isBase64Encoded"):
        return None
    try:
        base64.b64decode(event["body"], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return _raw_error(request, 400, "malformed_json", "The body is not UTF-8 encoded JSON",
                          [field_error("body", "is not valid UTF-8", "json_invalid")])
    return None


def _raw_error(request: str, status: int, code: str, message: str,
               fields: list[dict[str, Any]] | None = None) -> dict:
    """The one error shape, as a Lambda proxy result, for refusals made before the resolver runs."""
    body = _error_body(request, status, code, message, fields)
    return {"statusCode": status, "headers": {"Content-Type": JSON, "X-Request-Id": request},
            "body": jsonio.dumps(body), "isBase64Encoded": False}


# --- the resolver ---------------------------------------------------------------------------------


class Headers(dict):
    """A request's headers, looked up in any letter case (HTTP names are case-insensitive)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        super().__init__({str(name).lower(): value for name, value in raw.items()})

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class Request:
    """The API Gateway (REST, proxy integration) event being handled."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.raw_event = event
        self.headers = Headers(event.get("headers") or {})
        self.path = str(event.get("path") or "/")
        self.method = str(event.get("httpMethod") or "").upper()

    def body_text(self) -> str | None:
        body = self.raw_event.get("body")
        if body is None or body == "":
            return None
        if self.raw_event.get("isBase64Encoded"):  # its UTF-8 was checked before routing
            return base64.b64decode(body).decode("utf-8")
        return str(body)


class InvalidRequest(Exception):
    """Parameters that do not satisfy the operation's declaration: errors as pydantic words them (and flexigift.shapes) (loc, msg,
    type), the location first (path, query, body)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid parameter(s)")
        self.errors = errors


_MISSING = inspect.Parameter.empty
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True)
class Argument:
    """One parameter of a route's function, as declared."""

    name: str
    annotation: Any       # the declared type, Annotated[...] included (the OpenAPI generator reads it)
    kind: type | None     # int or str for path and query values; the model (or type) for a body
    optional: bool
    marker: Param
    default: Any

    def value(self, request: Request, path_values: dict[str, str]) -> Any:
        where = self.marker.where
        if where == "body":
            return self._body(request)
        raw = path_values.get(self.name) if where == "path" else \
            ((request.raw_event.get("queryStringParameters") or {}).get(self.name))
        if raw is None:
            if self.default is not _MISSING:
                return self.default
            raise self._invalid(where, "missing", "Field required")
        return self._checked(where, raw)

    def _checked(self, where: str, raw: str) -> Any:
        spec = self.marker.spec
        if self.kind is int:
            if not _DIGITS.fullmatch(raw) or len(raw) > 20:
                raise self._invalid(where, "int_parsing", "Input should be a valid integer")
            number = int(raw)
            if "ge" in spec and number < spec["ge"]:
                raise self._invalid(where, "greater_than_equal", f"Input should be greater than or equal to {spec['ge']}")
            if "le" in spec and number > spec["le"]:
                raise self._invalid(where, "less_than_equal", f"Input should be less than or equal to {spec['le']}")
            return number
        pattern = spec.get("pattern")
        if pattern and not re.search(pattern, raw):
            raise self._invalid(where, "string_pattern_mismatch", f"String should match pattern '{pattern}'")
        return raw

    def _invalid(self, where: str, kind: str, message: str) -> InvalidRequest:
        return InvalidRequest([{"loc": (where, self.name), "type": kind, "msg": message}])

    def _body(self, request: Request) -> Any:
        text = request.body_text()
        if text is None:
            if self.optional:
                return None
            raise InvalidRequest([{"loc": ("body",), "msg": "Field required", "type": "missing"}])
        data = jsonio.loads(text)
        if data is None and self.optional:
            return None
        from flexigift.shapes import ValidationError

        try:
            return self.kind.model_validate(data)  # type: ignore[union-attr]
        except ValidationError as exc:
            raise InvalidRequest([{"loc": ("body", *error["loc"]), "msg": error["msg"], "type": error["type"]}
                                  for error in exc.errors()]) from None


def _argument(name: str, parameter: inspect.Parameter, annotation: Any, path_names: set[str]) -> Argument:
    declared, marker = annotation, None
    if typing.get_origin(annotation) is Annotated:
        declared = typing.get_args(annotation)[0]
        marker = next((m for m in annotation.__metadata__ if isinstance(m, Param)), None)
    if marker is None:
        marker = Path() if name in path_names else Query()
    optional = False
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(declared) if m is not type(None)]
        optional = len(members) < len(typing.get_args(declared))
        declared = members[0] if len(members) == 1 else declared
    return Argument(name=name, annotation=annotation, kind=declared, optional=optional, marker=marker,
                    default=parameter.default)


@dataclass
class Route:
    """One operation: its method and path template (`/users/<id>`), its function, and what the OpenAPI spec
    says of it (operation_id, responses, ...)."""

    method: str
    path: str
    function: Callable[..., Any]
    options: dict[str, Any]
    pattern: re.Pattern[str]
    arguments: tuple[Argument, ...]

    def call(self, request: Request, path_values: dict[str, str]) -> Any:
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        for argument in self.arguments:
            try:
                values[argument.name] = argument.value(request, path_values)
            except InvalidRequest as exc:
                errors.extend(exc.errors)
        if errors:
            raise InvalidRequest(errors)
        return self.function(**values)


_PATH_PARAMETER = re.compile(r"<(\w+)>")


class Resolver:
    """The resolver of one operation (see the module's docstring). `required_scopes` are checked before
    routing (lambda_entry)."""

    def __init__(self, required_scopes: tuple[str, ...]) -> None:
        self.required_scopes = required_scopes
        self.routes: list[Route] = []
        self.fallback: Callable[[Exception], Any] | None = None
        self.current_event = Request({})
        self.lambda_context: Any = None

    def route(self, path: str, method: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            names = set(_PATH_PARAMETER.findall(path))
            hints = typing.get_type_hints(function, include_extras=True)
            signature = inspect.signature(function)
            arguments = tuple(_argument(name, parameter, hints.get(name, str), names)
                              for name, parameter in signature.parameters.items())
            pattern = re.compile("^" + _PATH_PARAMETER.sub(r"(?P<\1>[^/]+)", re.escape(path)) + "$")
            self.routes.append(Route(method.upper(), path, function, options, pattern, arguments))
            return function
        return register

    def get(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "GET", **options)

    def post(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "POST", **options)

    def put(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "PUT", **options)

    def patch(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "PATCH", **options)

    def delete(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "DELETE", **options)

    def not_found(self, function: Callable[[Exception], Any]) -> Callable[[Exception], Any]:
        """What answers a request no route serves (the route fallback's 404 and 405)."""
        self.fallback = function
        return function

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.current_event = request = Request(event)
        self.lambda_context = context
        try:
            for route in self.routes:
                matched = route.pattern.match(request.path) if route.method == request.method else None
                if matched:
                    return route.call(request, matched.groupdict())
            if self.fallback is not None:
                return self.fallback(LookupError(request.path))
            return error_response(self, 404, "not_found", "No such resource")
        except FlexigiftError as exc:
            return error_response(self, exc.status, exc.code, exc.message, exc.fields, exc.headers)
        except jsonio.MalformedJson as exc:
            return error_response(self, 400, "malformed_json", f"Malformed JSON body: {exc}",
                                  [field_error("body", str(exc), "json_invalid")])
        except InvalidRequest as exc:
            return _validation_response(self, exc.errors)
        except Exception:  # noqa: BLE001 - the one 500 of the API: logged with its trace, never shown
            return _internal_error(self)


# --- identity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who calls: one API key, acting for one program (every store call is scoped to it) with its scopes.
    `issuer` binds an issuer key to the cards and products of one issuer; `operator` marks the platform's
    operator key, which alone may create programs and keys for other programs."""

    key_id: str
    scopes: frozenset[str]
    program_id: str
    issuer: str | None = None
    operator: bool = False

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    def may(self, scope: str) -> bool:
        return scope in self.scopes or self.is_admin


def _authorizer_context(event: dict) -> dict:
    return (event.get("requestContext") or {}).get("authorizer") or {}


def _scopes(context: dict) -> frozenset[str]:
    return frozenset(str(context.get("scopes", "")).split())


def caller(app: Resolver) -> Caller:
    """Who is calling, as the authorizer established it (requestContext.authorizer). The operation's
    scope was already checked before routing (create_resolver(scope=...))."""
    context = _authorizer_context(app.current_event.raw_event)
    key_id, program_id = context.get("key_id"), context.get("program_id")
    if not key_id or not program_id:
        raise Unauthorized("A valid API key is required in the Authorization header")
    return Caller(key_id=str(key_id), scopes=_scopes(context), program_id=str(program_id),
                  issuer=str(context["issuer"]) if context.get("issuer") else None,
                  operator=str(context.get("operator", "")).lower() == "true")



# --- responses -----------------------------------------------------------------------------------


def request_id(app: Resolver) -> str:
    return str((app.current_event.raw_event.get("requestContext") or {}).get("requestId", ""))


def json_response(app: Resolver, status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda proxy result: the body as JSON (Decimal money as JSON numbers)."""
    all_headers = {"Content-Type": JSON, "X-Request-Id": request_id(app), **(headers or {})}
    return {"statusCode": status, "headers": all_headers, "body": jsonio.dumps(body), "isBase64Encoded": False}


def no_content(app: Resolver) -> dict[str, Any]:
    """204: done, nothing to say (a deletion)."""
    return {"statusCode": 204, "headers": {"X-Request-Id": request_id(app)}, "body": "", "isBase64Encoded": False}


def error_response(app: Resolver, status: int, code: str, message: str,
                   fields: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = _error_body(request_id(app), status, code, message, fields)
    return json_response(app, status, body, headers)


def _error_body(request: str, status: int, code: str, message: str,
                fields: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The one error shape of the whole API, logged once (status and code only, never the input)."""
    if status >= 500:
        logger.error("request failed", extra={"status": status, "code": code})
    else:
        logger.info("request refused", extra={"status": status, "code": code})
    return {"status": "error", "request_id": request,
            "error": {"code": code, "message": message, "fields": fields or []}}


def _validation_response(app: Resolver, errors: list[dict[str, Any]]) -> dict[str, Any]:
    fields, path_errors = [], []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where, rest = (loc[0], loc[1:]) if loc else ("body", [])
        name = ".".join(rest) if rest else where
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            return error_response(app, 400, "malformed_json", "Malformed JSON body",
                                  [field_error("body", message, "json_invalid")])
        if where == "body" and not rest and error.get("type") == "missing":
            return error_response(app, 400, "malformed_json", "The request body is empty: send a JSON object",
                                  [field_error("body", "the body is empty", "json_invalid")])
        if where == "path":
            path_errors.append(name)
        fields.append(field_error(name, message, str(error.get("type", "invalid"))))
    if path_errors:
        return error_response(app, 404, "not_found", f"No resource at {app.current_event.path}")
    names = ", ".join(f["field"] for f in fields)
    return error_response(app, 422, "validation_failed", f"Invalid request: check {names}", fields)


def _internal_error(app: Resolver) -> dict[str, Any]:
    logger.exception("unhandled error")
    return error_response(app, 500, "internal_error",
                          "Something went wrong on our side; quote the request_id when reporting it")


# --- collections ---------------------------------------------------------------------------------


def _shown(name: Any) -> str:
    """A client's parameter name as an error message may quote it: short, and encodable whatever it holds."""
    text = str(name)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 64 else text[:61] + "..."


def _repeated(multi: dict[str, Any]) -> list[str]:
    return sorted(_shown(n) for n, v in multi.items() if isinstance(v, list) and len(v) > 1)


def _is_query_text(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > MAX_QUERY_TEXT or not _QUERY_TEXT.fullmatch(value):
        return False
    try:
        value.encode("utf-8")  # a lone surrogate is no text (and no DynamoDB string)
    except UnicodeEncodeError:
        return False
    return True


def query_params(app: Resolver, supported: tuple[str, ...],
                 paged: bool = True) -> tuple[dict[str, str], int, str | None]:
    """Filters, page size and cursor from the query string; unknown or repeated parameters are refused
    (400), and so are `limit` and `cursor` where the answer is not paged (`paged=False`). Any string is
    either accepted or refused with a 4xx here: see PATH_ID_PATTERN above for what is checked."""
    settings = get_settings()
    raw = app.current_event.raw_event
    multi = raw.get("multiValueQueryStringParameters") or {}
    single = raw.get("queryStringParameters") or {}
    names = set(multi) | set(single)
    known = (*supported, "limit", "cursor") if paged else tuple(supported)
    unknown = sorted(_shown(n) for n in names - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise UnsupportedFilter(f"Unsupported query parameter(s): {', '.join(unknown)}. Supported: {allowed}",
                                fields=[field_error(n, "not a supported filter", "unsupported") for n in unknown])
    repeated = _repeated(multi)
    if repeated:
        raise UnsupportedFilter(f"Give each query parameter once: {', '.join(repeated)}",
                                fields=[field_error(n, "given more than once", "repeated") for n in repeated])
    params = {n: (single.get(n) if n in single else (multi[n] or [""])[0]) for n in names}
    limit_text = params.pop("limit", None)
    limit = settings.default_page_size
    if limit_text is not None:
        # ASCII digits only: str.isdigit() admits '²' and '١', which int() then fails on or accepts
        if not isinstance(limit_text, str) or not _LIMIT.fullmatch(limit_text) \
                or not 1 <= int(limit_text) <= settings.max_page_size:
            raise ValidationFailed(f"limit must be an integer from 1 to {settings.max_page_size}",
                                   fields=[field_error("limit", f"must be 1..{settings.max_page_size}")])
        limit = int(limit_text)
    cursor = params.pop("cursor", None) or None
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidCursor("cursor is not one this API issued; use the Link header of the previous page")
    bad = sorted(n for n, v in params.items() if not _is_query_text(v))
    if bad:
        raise ValidationFailed(f"Query parameter(s) {', '.join(bad)} must be at most {MAX_QUERY_TEXT} characters "
                               "of text without control characters",
                               fields=[field_error(n, f"must be at most {MAX_QUERY_TEXT} characters, no control "
                                                      "characters", "string_too_long") for n in bad])
    filters = {k: v for k, v in params.items() if v != ""}
    return filters, limit, cursor


def page_response(app: Resolver, items: list[Any], next_cursor: str | None,
                  filters: dict[str, str], limit: int) -> dict[str, Any]:
    """A JSON array; the next page, if any, is announced in a Link header (RFC 8288)."""
    headers = {}
    if next_cursor:
        query = urlencode({**filters, "limit": limit, "cursor": next_cursor})
        headers["Link"] = f'<{_base_url(app)}?{query}>; rel="next"'
    return json_response(app, 200, items, headers)


def _base_url(app: Resolver) -> str:
    raw = app.current_event.raw_event
    headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
    host = headers.get("host", "localhost")
    proto = headers.get("x-forwarded-proto", "https")
    # requestContext.path carries the stage (/Prod/users) on the execute-api domain
    path = (raw.get("requestContext") or {}).get("path") or raw.get("path", "/")
    return f"{proto}://{host}{path}"
