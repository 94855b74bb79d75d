"""A local API Gateway (REST API, Lambda proxy integration) for the routes of template.yaml.

Per request, as API Gateway does it: match a resource and method; run the route's REQUEST authorizer
(401 without calling it when an identity header is missing, 401 when it raises "Unauthorized", 403 when
its policy does not allow the method ARN); build the proxy event with the authorizer's context; call the
function; turn its result into the HTTP response. Refusals made here use the API's GatewayResponses
from template.yaml, with $context.requestId filled in.

Authorizer results are cached as API Gateway caches them: per authorizer and identity source (the values
of its Identity headers), for its ReauthorizeEvery (the template's AuthorizerCacheSeconds; 0 turns the
cache off, as it does in AWS). A cached decision's policy is evaluated against each request's own method
ARN, and its context goes into each request's event; only decisions are cached, never a refusal (401) or an
authorizer failure, so those call the authorizer every time.

Not modelled: throttling, binary media types, the stage prefix in URLs (the API is served at /, as on a
custom domain).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from local import lambda_runtime, template
from local.moto_backend import ACCOUNT_ID, REGION

API_ID = "localapi"
STAGE = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# A connection that sends nothing for this long (headers never finished, a body that stopped, an idle
# keep-alive) is closed; one thread per connection must not be held for ever.
READ_TIMEOUT_SECONDS = float(os.environ.get("FLEXIGIFT_LOCAL_READ_TIMEOUT", "10"))
# Open connections at once; one more is answered 503 and closed (each open connection holds a thread).
MAX_CONNECTIONS = int(os.environ.get("FLEXIGIFT_LOCAL_MAX_CONNECTIONS", "64"))
# Cached authorizer decisions kept at most (distinct keys within the TTL); the oldest go first past it
AUTHORIZER_CACHE_ENTRIES = 10_000

# API Gateway's default status per gateway response type (used when the template sets none)
_DEFAULT_STATUS = {"UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "MISSING_AUTHENTICATION_TOKEN": 403,  # nosec B105  # status codes
                   "AUTHORIZER_FAILURE": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500, "BAD_REQUEST_BODY": 400,
                   "REQUEST_TOO_LARGE": 413, "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504}
_ERROR_TYPE_HEADER = {"UNAUTHORIZED": "UnauthorizedException", "ACCESS_DENIED": "AccessDeniedException",
                      "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",  # nosec B105  # error names
                      "AUTHORIZER_FAILURE": "AuthorizerFailureException",
                      "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
                      "REQUEST_TOO_LARGE": "RequestTooLargeException"}
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date"}


class Invoker(Protocol):
    def invoke(self, fn: template.Function, event: dict[str, Any], request_id: str) -> lambda_runtime.Outcome: ...


@dataclass
class HttpRequest:
    method: str
    raw_path: str                       # as sent, percent-encoded
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]      # in order, original case, repeats kept
    body: bytes
    source_ip: str

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[-1] if found else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# A local-only endpoint (/_local/...): served before routing, without authorization.
LocalHandler = Callable[[HttpRequest], HttpResponse]


def json_response(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])],
                        json.dumps(body).encode())


# --- template-driven pieces -------------------------------------------------------------------------


class GatewayResponses:
    """Renders the API's GatewayResponses (template.yaml) for the refusals API Gateway makes itself."""

    def __init__(self, declared: dict[str, dict[str, Any]]) -> None:
        self.declared = declared

    def render(self, kind: str, request_id: str, status: int | None = None, message: str = "") -> HttpResponse:
        """The response of one type (UNAUTHORIZED, ...): its own entry if declared, else DEFAULT_4XX/5XX."""
        spec = self.declared.get(kind)
        if spec:
            status = int(spec.get("StatusCode") or status or _DEFAULT_STATUS.get(kind, 500))
        else:
            status = status or _DEFAULT_STATUS.get(kind, 500)
            spec = self.declared.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
        template_text = (spec.get("ResponseTemplates") or {}).get("application/json")
        if template_text is None:
            body = json.dumps({"message": message or "Error"})
        else:
            body = (template_text.replace("$context.requestId", request_id)
                    .replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.error.message", message))
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        if kind in _ERROR_TYPE_HEADER:
            headers.append(("x-amzn-ErrorType", _ERROR_TYPE_HEADER[kind]))
        for name, value in (spec.get("ResponseParameters") or {}).get("Headers", {}).items():
            headers.append((name, str(value).strip("'")))
        return HttpResponse(status, headers, body.encode())


class Router:
    """Resource first (literal before parameterised before greedy), then the method or ANY, as API Gateway."""

    def __init__(self, routes: list[template.Route]) -> None:
        self.resources: dict[str, dict[str, template.Route]] = {}
        for route in routes:
            self.resources.setdefault(route.path, {})[route.method] = route
        paths = sorted(self.resources, key=lambda p: ("+}" in p, p.count("{"), -p.count("/")))
        self.patterns = [(template.Route("ANY", p, "").pattern, p) for p in paths]

    def match(self, method: str, raw_path: str) -> tuple[template.Route, dict[str, str]] | None:
        for pattern, path in self.patterns:
            found = pattern.match(raw_path)
            if found:
                methods = self.resources[path]
                route = methods.get(method) or methods.get("ANY")
                if route is None:
                    return None  # API Gateway does not fall back to a parent resource
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation of an authorizer's policy for execute-api:Invoke on the method ARN (Deny wins)."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(_glob(a, "execute-api:Invoke", ignore_case=True) for a in actions):
            continue
        if not any(_glob(r, method_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        allowed = allowed or effect == "allow"
    return allowed


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value is not None else [])


def _glob(pattern: str, text: str, ignore_case: bool = False) -> bool:
    return _glob_regex(pattern, ignore_case).fullmatch(text) is not None


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """An IAM resource or action pattern (* and ?) as a regex, compiled once (every request evaluates one)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


class AuthorizerCache:
    """API Gateway's authorizer result cache: a decision per (authorizer, identity source values), kept for
    the authorizer's TTL in seconds (0: nothing is kept)."""

    def __init__(self, ttl_seconds: dict[str, float], clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}

    def get(self, authorizer: str, identity: tuple[str, ...]) -> dict[str, Any] | None:
        with self._lock:
            found = self._decisions.get((authorizer, identity))
            if found is None:
                return None
            if found[0] <= self.clock():
                del self._decisions[(authorizer, identity)]
                return None
            return found[1]

    def put(self, authorizer: str, identity: tuple[str, ...], decision: dict[str, Any]) -> None:
        ttl = self.ttl_seconds.get(authorizer, 0)
        if ttl <= 0:
            return
        with self._lock:
            if len(self._decisions) >= AUTHORIZER_CACHE_ENTRIES:
                now = self.clock()
                for key in [k for k, (expires, _) in self._decisions.items() if expires <= now]:
                    del self._decisions[key]
                while len(self._decisions) >= AUTHORIZER_CACHE_ENTRIES:
                    del self._decisions[next(iter(self._decisions))]  # the oldest entry
            self._decisions[(authorizer, identity)] = (self.clock() + ttl, decision)


def authorizer_ttls(authorizers: dict[str, template.Authorizer], parameters: dict[str, str] | None) -> dict[str, float]:
    """Each authorizer's cache TTL in seconds: its ReauthorizeEvery with the stack's parameters (API Gateway
    allows 0 to 3600); 0 for one without identity headers or with identity sources not modelled here."""
    ttls = {}
    for name, authorizer in authorizers.items():
        if authorizer.reauthorize_every is None or not authorizer.identity_headers:
            ttls[name] = 0.0
            continue
        value = template.resolve(authorizer.reauthorize_every, {}, parameters)
        ttls[name] = min(max(float(value), 0.0), 3600.0)
    return ttls


# --- the gateway -------------------------------------------------------------------------------------


class Gateway:
    def __init__(self, invoker: Invoker, log: Callable[[str], None] | None = None,
                 parameters: dict[str, str] | None = None) -> None:
        """`parameters`: the template's parameters as the stack sets them (AuthorizerCacheSeconds, ...);
        those not given take their Default."""
        self.invoker = invoker
        self.functions = template.functions()
        self.authorizers = template.authorizers()
        self.authorizer_cache = AuthorizerCache(authorizer_ttls(self.authorizers, parameters))
        self.router = Router(template.routes())
        self.responses = GatewayResponses(template.gateway_responses())
        self.local_routes: dict[tuple[str, str], LocalHandler] = {}
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        # not ready (503) until the stack has started every service, not merely this gateway
        self.ready = threading.Event()
        self.add_local_route("GET", "/_local/health", self._health)
        for route in template.routes():
            found = self.authorizers.get(route.authorizer) if route.authorizer else None
            if route.authorizer and (found is None or found.payload_type != "REQUEST"):
                raise lambda_runtime.LocalSetupError(
                    f"{route.method} {route.path} uses authorizer {route.authorizer}: only Lambda REQUEST "
                    "authorizers are served locally")

    def _health(self, _request: HttpRequest) -> HttpResponse:
        if self.ready.is_set():
            return json_response(200, {"status": "ok"})
        return json_response(503, {"status": "starting"}, [("Retry-After", "1")])

    def add_local_route(self, method: str, path: str, handler: LocalHandler) -> None:
        """For local services (e.g. a captured-email outbox): served as is, never authorized."""
        self.local_routes[(method.upper(), path)] = handler

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        try:
            response = self._handle(request, request_id)
        except Exception as exc:  # noqa: BLE001 - a gateway bug must not kill the connection silently
            self.log(f"[ERROR] gateway failure for {request.method} {request.raw_path}: {exc!r}")
            response = self.responses.render("DEFAULT_5XX", request_id, 500, "Internal server error")
        self.log(f"{request.method} {request.raw_path} {response.status} "
                 f"{(time.perf_counter() - started) * 1000:.1f}ms")
        return response

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if not self.ready.is_set() and request.raw_path != "/_local/health":
            # every service up and the first catalog refresh run, or nothing: a client retries after a second
            return json_response(503, {"status": "error", "request_id": request_id, "error": {
                "code": "starting", "message": "the local stack is starting; retry shortly", "fields": []}},
                [("Retry-After", "1"), ("x-amzn-RequestId", request_id)])
        local = self.local_routes.get((request.method, request.raw_path))
        if local:
            return local(request)
        if len(request.body) > MAX_BODY_BYTES:
            return self.responses.render("REQUEST_TOO_LARGE", request_id, 413, "Request Too Long")
        matched = self.router.match(request.method, request.raw_path)
        if matched is None:
            return self.responses.render("MISSING_AUTHENTICATION_TOKEN", request_id,
                                         message="Missing Authentication Token")
        route, path_parameters = matched
        event = self._proxy_event(request, route, path_parameters, request_id)
        if route.authorizer:
            refusal = self._authorize(route, request, event, request_id)
            if refusal:
                return refusal
        fn = self.functions[route.function]
        outcome = self.invoker.invoke(fn, event, request_id)
        if outcome.error:
            return self.responses.render("DEFAULT_5XX", request_id, 502, "Internal server error")
        return self._proxy_response(outcome.payload, request_id)

    # -- authorization --

    def _authorize(self, route: template.Route, request: HttpRequest, event: dict[str, Any],
                   request_id: str) -> HttpResponse | None:
        authorizer = self.authorizers[route.authorizer or ""]  # checked in __init__
        identity = tuple(request.header(name) or "" for name in authorizer.identity_headers)
        if not all(value.strip() for value in identity):
            return self.responses.render("UNAUTHORIZED", request_id, message="Unauthorized")
        method_arn = (f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/"
                      f"{request.method}/{event['path'].lstrip('/')}")
        decision = self.authorizer_cache.get(authorizer.name, identity)
        if decision is None:
            answer = self._call_authorizer(authorizer, event, method_arn, request_id)
            if isinstance(answer, HttpResponse):
                return answer  # a refusal or a failure: never cached
            decision = answer
            self.authorizer_cache.put(authorizer.name, identity, decision)
        if not _policy_allows(decision["policyDocument"], method_arn):
            return self.responses.render("ACCESS_DENIED", request_id,
                                         message="User is not authorized to access this resource")
        event["requestContext"]["authorizer"] = {**(decision.get("context") or {}),
                                                 "principalId": decision["principalId"]}
        return None

    def _call_authorizer(self, authorizer: template.Authorizer, event: dict[str, Any], method_arn: str,
                         request_id: str) -> dict[str, Any] | HttpResponse:
        """The authorizer's decision (principalId, policyDocument, context), or the refusal to answer with."""
        authorizer_event = {
            "type": "REQUEST", "methodArn": method_arn,
            **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                     "queryStringParameters", "multiValueQueryStringParameters",
                                     "pathParameters", "stageVariables", "requestContext")},
        }
        outcome = self.invoker.invoke(self.functions[authorizer.function], authorizer_event, request_id)
        if outcome.error:
            if outcome.error_message == "Unauthorized":
                return self.responses.render("UNAUTHORIZED", request_id, message="Unauthorized")
            return self.responses.render("AUTHORIZER_FAILURE", request_id, message="Authorizer error")
        decision = outcome.payload
        if not isinstance(decision, dict) or not decision.get("principalId") or \
                not isinstance(decision.get("policyDocument"), dict):
            self.log(f"[ERROR] {authorizer.function} returned no principalId/policyDocument: {decision!r}")
            return self.responses.render("AUTHORIZER_CONFIGURATION_ERROR", request_id,
                                         message="Authorizer configuration error")
        context = decision.get("context") or {}
        if any(not isinstance(v, (str, int, float, bool)) for v in context.values()):
            self.log(f"[ERROR] {authorizer.function} context values must be strings, numbers or booleans")
            return self.responses.render("AUTHORIZER_CONFIGURATION_ERROR", request_id,
                                         message="Authorizer configuration error")
        return decision

    # -- events and responses --

    def _proxy_event(self, request: HttpRequest, route: template.Route, path_parameters: dict[str, str],
                     request_id: str) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        forwarded = [("X-Forwarded-For", request.source_ip), ("X-Forwarded-Proto", "http"),
                     ("X-Forwarded-Port", self._port_of(request)), ("X-Amzn-Trace-Id", f"Root=1-{request_id}")]
        for name, value in [*[(k, v) for k, v in request.headers
                              if k.lower() not in {n.lower() for n, _ in forwarded}], *forwarded]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in request.query:
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        body, is_base64 = _event_body(request.body)
        path = unquote(request.raw_path)
        now = time.time()
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID, "apiId": API_ID, "stage": STAGE, "resourceId": "local",
                "requestId": request_id, "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "path": path, "resourcePath": route.path, "httpMethod": request.method,
                "protocol": "HTTP/1.1", "domainName": request.header("Host") or "localhost",
                "identity": {"sourceIp": request.source_ip, "userAgent": request.header("User-Agent")},
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    @staticmethod
    def _port_of(request: HttpRequest) -> str:
        host = request.header("Host") or ""
        return host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else "80"

    def _proxy_response(self, result: Any, request_id: str) -> HttpResponse:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int) \
                or not 100 <= result["statusCode"] <= 599:
            self.log(f"[ERROR] malformed Lambda proxy response: {str(result)[:300]}")
            return self.responses.render("DEFAULT_5XX", request_id, 502, "Internal server error")
        headers: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            headers.extend((name, str(v)) for v in (values if isinstance(values, list) else [values]))
        multi_names = {n.lower() for n in multi}
        headers.extend((n, str(v)) for n, v in (result.get("headers") or {}).items() if n.lower() not in multi_names)
        headers = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return HttpResponse(result["statusCode"], headers, payload)


def _event_body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), True


# --- HTTP server ---------------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flexigift-local-gateway"
    gateway: Gateway  # set on the subclass made by serve()

    timeout = READ_TIMEOUT_SECONDS  # applied to the socket by StreamRequestHandler.setup
    # TCP_NODELAY (StreamRequestHandler.setup): with Nagle's algorithm on, a keep-alive client's next answer
    # waited for the ACK of its last segment, which the client delays: 40 ms more per request on loopback
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.close_connection = True  # the rest of the body is never read
            self._send(self.gateway.responses.render("REQUEST_TOO_LARGE", str(uuid.uuid4()), 413,
                                                     "Request Too Long"), close=True)
            return
        except ValueError as exc:
            self.send_error(400, str(exc))
            return
        parts = urlsplit(self.path)
        request = HttpRequest(
            method=self.command.upper(), raw_path=parts.path or "/",
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=list(self.headers.items()), body=body, source_ip=self.client_address[0])
        self._send(self.gateway.handle(request))

    def _send(self, response: HttpResponse, close: bool = False) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
        if self.request_version == "HTTP/0.9":  # no head to send (send_response_only buffered none)
            self.wfile.write(response.body)
            return
        # the head and the body in one write (end_headers would send the head on its own)
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(response.body)
        self.flush_headers()

    def _read_body(self) -> bytes:
        """The body, never more than MAX_BODY_BYTES of it (BodyTooLarge as soon as it would be): the limit
        holds for a chunked body too, which announces no length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    raise ValueError("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise BodyTooLarge
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise ValueError("body ended inside a chunk")
                chunks.append(chunk)
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            raise ValueError("bad Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise BodyTooLarge
        return self.rfile.read(int(length))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...) goes through the gateway too, where a resource's ANY fallback
        # answers it (405 with Allow, in the one error shape) instead of http.server's HTML 501.
        if name.startswith("do_") and name[3:].isalpha():
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # the gateway logs one line per request itself


class BodyTooLarge(Exception):
    """The request body is larger than MAX_BODY_BYTES."""


_BUSY_BODY = json.dumps({"status": "error", "request_id": "", "error": {
    "code": "too_many_connections", "message": "too many open connections; retry shortly", "fields": []}}).encode()
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
         b"Connection: close\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default of 5 resets connections when many clients arrive at once
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self.open_connections = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.open_connections.acquire(blocking=False):
            try:  # one thread per connection: past the limit, a short answer and the door
                request.settimeout(1)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.open_connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.open_connections.release()


def make_server(gateway: Gateway, host: str, port: int) -> GatewayServer:
    handler = type("BoundRequestHandler", (_RequestHandler,), {"gateway": gateway})
    return GatewayServer((host, port), handler)
