"""The HTTP edge shared by every handler: resolver factory, caller identity and scopes, the one error
shape, JSON responses with Decimal money, pagination links. Nothing else builds an HTTP response."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path
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


def create_resolver(scope: str | tuple[str, ...] | None = None) -> APIGatewayRestResolver:
    """A resolver for one operation. `scope` is the API-key scope the operation needs (or a tuple of
    scopes, any of which will do; `admin` always will, within its own program). It is checked before the
    body is even read, so a key without it gets 403 whatever it sends. A resolver that declares no scope
    refuses every request (fail closed); only the authorizer and the route fallback have none, and they
    are not resolvers."""
    app = APIGatewayRestResolver(
        enable_validation=True,
        serializer=jsonio.dumps,
        json_body_deserializer=jsonio.loads,
    )
    app.exception_handler(FlexigiftError)(lambda exc: error_response(app, exc.status, exc.code, exc.message,
                                                                     exc.fields, exc.headers))
    app.exception_handler(jsonio.MalformedJson)(
        lambda exc: error_response(app, 400, "malformed_json", f"Malformed JSON body: {exc}",
                                   [field_error("body", str(exc), "json_invalid")]))
    app.exception_handler(RequestUnsupportedContentType)(
        lambda exc: error_response(app, 415, "unsupported_media_type", "Send the body as Content-Type: application/json"))
    app.exception_handler(RequestValidationError)(lambda exc: _validation_response(app, exc))
    app.exception_handler(NotFoundError)(
        lambda exc: error_response(app, 404, "not_found", "No such resource"))
    app.exception_handler(Exception)(lambda exc: _internal_error(app, exc))
    app.required_scopes = (scope,) if isinstance(scope, str) else tuple(scope or ())  # type: ignore[attr-defined]
    return app


def lambda_entry(app: APIGatewayRestResolver, clients: tuple[str, ...] = ("dynamodb",)) -> Callable[[dict, Any], dict]:
    """The Lambda handler of an HTTP function: logger (request id as correlation id), metrics, tracer. Called
    at import, so in Lambda it also warms the function's `clients` during init (flexigift.aws.warm) and
    registers SnapStart's after-restore hook."""
    warm(*clients)
    register_restore_hook()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict, context: Any) -> dict:
        refused = _refuse_before_routing(event, getattr(app, "required_scopes", ()))
        return refused if refused is not None else app.resolve(event, context)

    return handler


def _refuse_before_routing(event: dict, scopes: tuple[str, ...]) -> dict | None:
    """Checks made on the raw event, before the resolver reads the body: the caller's scope (401/403
    must not depend on what the body holds), then the media type (curl -d without -H sends a form).
    A JSON media type in any letter case is normalised to what the resolver expects."""
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
    if repeated:  # before the resolver's validation, which would call a repeated text parameter "not a string"
        return _raw_error(request, 400, "unsupported_filter", f"Give each query parameter once: {', '.join(repeated)}",
                          [field_error(n, "given more than once", "repeated") for n in repeated])
    if not event.get("body"):
        return None
    headers = event.get("headers") or {}
    name = next((k for k in headers if str(k).lower() == "content-type"), None)
    media_type = str(headers.get(name, "")).split(";", 1)[0].strip().lower() if name else ""
    if not media_type:
        return _refuse_non_utf8(event, request)
    if media_type == JSON or media_type.endswith("+json"):
        headers[name] = JSON
        for key in list(event.get("multiValueHeaders") or {}):
            if str(key).lower() == "content-type":
                event["multiValueHeaders"][key] = [JSON]
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


def caller(app: APIGatewayRestResolver) -> Caller:
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


def request_id(app: APIGatewayRestResolver) -> str:
    return str((app.current_event.raw_event.get("requestContext") or {}).get("requestId", ""))


def json_response(app: APIGatewayRestResolver, status: int, body: Any,
                  headers: dict[str, str] | None = None) -> Response:
    all_headers = {"X-Request-Id": request_id(app), **(headers or {})}
    return Response(status_code=status, content_type=JSON, body=jsonio.dumps(body), headers=all_headers)


def error_response(app: APIGatewayRestResolver, status: int, code: str, message: str,
                   fields: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
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


def _validation_response(app: APIGatewayRestResolver, exc: RequestValidationError) -> Response:
    fields, path_errors = [], []
    for error in exc.errors():
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


def _internal_error(app: APIGatewayRestResolver, exc: Exception) -> Response:
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


def query_params(app: APIGatewayRestResolver, supported: tuple[str, ...],
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


def page_response(app: APIGatewayRestResolver, items: list[Any], next_cursor: str | None,
                  filters: dict[str, str], limit: int) -> Response:
    """A JSON array; the next page, if any, is announced in a Link header (RFC 8288)."""
    headers = {}
    if next_cursor:
        query = urlencode({**filters, "limit": limit, "cursor": next_cursor})
        headers["Link"] = f'<{_base_url(app)}?{query}>; rel="next"'
    return json_response(app, 200, items, headers)


def _base_url(app: APIGatewayRestResolver) -> str:
    raw = app.current_event.raw_event
    headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
    host = headers.get("host", "localhost")
    proto = headers.get("x-forwarded-proto", "https")
    # requestContext.path carries the stage (/Prod/users) on the execute-api domain
    path = (raw.get("requestContext") or {}).get("path") or raw.get("path", "/")
    return f"{proto}://{host}{path}"
