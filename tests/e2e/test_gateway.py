"""The local gateway's API Gateway contract, over HTTP, with stand-in functions: the paths that the real
handlers never take (a function that raises, a Deny policy, a malformed proxy response) and the exact
shape of the events the handlers receive."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local import gateway as gateway_module
from local import lambda_runtime, template
from local.gateway import Gateway, make_server
from tests.e2e.conftest import assert_error_shape

pytestmark = pytest.mark.e2e

ARN_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:localapi/local/"


class FunctionFailed(Exception):
    pass


def allow(resource: str = ARN_PREFIX + "*", effect: str = "Allow") -> dict[str, Any]:
    return {"principalId": "key_test", "context": {"key_id": "key_test", "scopes": "wallet:read"},
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                                              "Resource": resource}]}}


def ok(body: Any = None) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body or {})}


class StandInFunctions:
    """Plays every function of the template: records the events, answers what a test sets."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.authorizer: Callable[[dict[str, Any]], Any] = lambda event: allow()
        self.route: Callable[[dict[str, Any]], Any] = lambda event: ok({"served": True})

    def invoke(self, fn: template.Function, event: dict[str, Any], request_id: str) -> lambda_runtime.Outcome:
        self.events.setdefault(fn.logical_id, []).append(event)
        behaviour = self.authorizer if fn.logical_id == template.authorizer_function() else self.route
        try:
            return lambda_runtime.Outcome(json.loads(json.dumps(behaviour(event))), False, 1.0)
        except FunctionFailed as exc:
            return lambda_runtime.Outcome({"errorMessage": str(exc), "errorType": "FunctionFailed"}, True, 1.0)


@pytest.fixture
def functions() -> StandInFunctions:
    return StandInFunctions()


@pytest.fixture
def gateway(functions: StandInFunctions) -> Gateway:
    gateway = Gateway(functions, log=lambda line: None)
    gateway.ready.set()
    return gateway


@pytest.fixture
def base_url(gateway: Gateway) -> Iterator[str]:
    server = make_server(gateway, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def call(method: str, url: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, timeout=10, **kwargs)


def error_of(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert_error_shape(body, code)
    assert body["request_id"] == response.headers["x-amzn-RequestId"]
    return body["error"]


def test_the_proxy_event_is_api_gateways(base_url: str, functions: StandInFunctions):
    """Given an allowed request with a path id, repeated query parameters and a JSON body,
    when it reaches the function, then the event carries the resource, the decoded path parameters, single
    and multi-value query strings and headers, the text body, and the authorizer's context and principal."""
    response = call("PATCH", f"{base_url}/users/42?a=1&a=2&b=", data='{"name": "Jack"}',
                              headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    [event] = functions.events["UpdateUserFunction"]
    assert event["resource"] == "/users/{id}" and event["path"] == "/users/42"
    assert event["httpMethod"] == "PATCH" and event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"]["Authorization"] == "Bearer k"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert event["body"] == '{"name": "Jack"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local" and context["resourcePath"] == "/users/{id}" and context["path"] == "/users/42"
    assert context["authorizer"] == {"key_id": "key_test", "scopes": "wallet:read", "principalId": "key_test"}
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    [authorizer_event] = functions.events["AuthorizerFunction"]
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["methodArn"] == ARN_PREFIX + "PATCH/users/42"
    assert authorizer_event["headers"]["Authorization"] == "Bearer k"


def test_a_missing_authorization_header_is_401_without_calling_the_authorizer(base_url: str,
                                                                               functions: StandInFunctions):
    """Given no Authorization header, when a route is called, then 401 and neither function runs."""
    error_of(call("GET", f"{base_url}/users"), 401, "unauthorized")
    assert functions.events == {}


def test_an_unauthorized_authorizer_error_is_401(base_url: str, functions: StandInFunctions):
    """Given an authorizer that raises Exception("Unauthorized"), when a route is called, then 401."""
    def refuse(event: dict[str, Any]) -> Any:
        raise FunctionFailed("Unauthorized")

    functions.authorizer = refuse
    error_of(call("GET", f"{base_url}/users", headers={"Authorization": "k"}), 401, "unauthorized")
    assert "ListUsersFunction" not in functions.events


@pytest.mark.parametrize("policy", [allow(effect="Deny"), allow(ARN_PREFIX + "GET/products")],
                         ids=["deny", "other-resource"])
def test_a_policy_that_does_not_allow_the_method_is_403(base_url: str, functions: StandInFunctions, policy):
    """Given an authorizer whose policy denies, or allows only another method ARN,
    when /users is called, then 403 forbidden and the function does not run."""
    functions.authorizer = lambda event: policy
    error_of(call("GET", f"{base_url}/users", headers={"Authorization": "k"}), 403, "forbidden")
    assert "ListUsersFunction" not in functions.events


def test_a_decision_is_cached_per_identity_for_the_templates_ttl(base_url: str, gateway: Gateway,
                                                                  functions: StandInFunctions):
    """Given the template's AuthorizerCacheSeconds (60 s by default, the API's ReauthorizeEvery), when one key
    calls two routes, then the authorizer runs once and both functions get its context, each request with its
    own request id; another key is authorized on its own; past the TTL the key is authorized again."""
    now = [1000.0]
    gateway.authorizer_cache.clock = lambda: now[0]
    assert gateway.authorizer_cache.ttl_seconds == {"ApiKeyAuthorizer": 60.0}
    first = call("GET", f"{base_url}/users", headers={"Authorization": "k"})
    second = call("GET", f"{base_url}/products", headers={"Authorization": "k"})
    assert first.status_code == second.status_code == 200
    assert len(functions.events["AuthorizerFunction"]) == 1
    [users], [products] = functions.events["ListUsersFunction"], functions.events["ListProductsFunction"]
    assert users["requestContext"]["authorizer"] == products["requestContext"]["authorizer"] == \
        {"key_id": "key_test", "scopes": "wallet:read", "principalId": "key_test"}
    assert products["requestContext"]["requestId"] == second.headers["x-amzn-RequestId"] != \
        first.headers["x-amzn-RequestId"]
    assert call("GET", f"{base_url}/users", headers={"Authorization": "other"}).status_code == 200
    assert len(functions.events["AuthorizerFunction"]) == 2
    now[0] += 60
    assert call("GET", f"{base_url}/users", headers={"Authorization": "k"}).status_code == 200
    assert len(functions.events["AuthorizerFunction"]) == 3


def test_a_cached_policy_is_evaluated_against_each_requests_method(base_url: str, functions: StandInFunctions):
    """Given a decision allowing only GET /users, cached, when the same key calls GET /products, then 403
    forbidden without the authorizer running again (API Gateway applies the cached policy to each request)."""
    functions.authorizer = lambda event: allow(ARN_PREFIX + "GET/users")
    assert call("GET", f"{base_url}/users", headers={"Authorization": "k"}).status_code == 200
    error_of(call("GET", f"{base_url}/products", headers={"Authorization": "k"}), 403, "forbidden")
    assert len(functions.events["AuthorizerFunction"]) == 1
    assert "ListProductsFunction" not in functions.events


def test_a_refusal_is_not_cached(base_url: str, functions: StandInFunctions):
    """Given an authorizer that refuses a key (401), when the key is used again once the authorizer accepts
    it, then the authorizer runs again and the request is served."""
    def refuse(event: dict[str, Any]) -> Any:
        raise FunctionFailed("Unauthorized")

    functions.authorizer = refuse
    error_of(call("GET", f"{base_url}/users", headers={"Authorization": "k"}), 401, "unauthorized")
    functions.authorizer = lambda event: allow()
    assert call("GET", f"{base_url}/users", headers={"Authorization": "k"}).status_code == 200
    assert len(functions.events["AuthorizerFunction"]) == 2


def test_with_authorizer_cache_seconds_0_every_request_is_authorized(functions: StandInFunctions):
    """Given the stack's AuthorizerCacheSeconds=0 (`--parameter AuthorizerCacheSeconds=0`, as in AWS), when one
    key calls twice, then the authorizer runs twice."""
    gateway = Gateway(functions, log=lambda line: None, parameters={"AuthorizerCacheSeconds": "0"})
    gateway.ready.set()
    request = gateway_module.HttpRequest("GET", "/users", [], [("Authorization", "k")], b"", "127.0.0.1")
    assert gateway.handle(request).status == gateway.handle(request).status == 200
    assert len(functions.events["AuthorizerFunction"]) == 2


def test_a_function_that_raises_is_a_502_without_its_details(base_url: str, functions: StandInFunctions):
    """Given a function that raises, when it is called, then 502 internal_error that reveals nothing."""
    def crash(event: dict[str, Any]) -> Any:
        raise FunctionFailed("secret detail in a stack trace")

    functions.route = crash
    response = call("GET", f"{base_url}/users", headers={"Authorization": "k"})
    error_of(response, 502, "internal_error")
    assert "secret" not in response.text


def test_a_malformed_proxy_response_is_a_502(base_url: str, functions: StandInFunctions):
    """Given a function that returns no statusCode, when it is called, then 502 internal_error."""
    functions.route = lambda event: {"body": "hello"}
    error_of(call("GET", f"{base_url}/users", headers={"Authorization": "k"}), 502, "internal_error")


def test_multi_value_headers_and_base64_bodies_are_translated(base_url: str, functions: StandInFunctions):
    """Given a function answering with two Set-Cookie values and a base64-encoded body,
    when it is called, then the client gets both headers and the decoded bytes."""
    functions.route = lambda event: {"statusCode": 201, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                                     "headers": {"Content-Type": "application/octet-stream"},
                                     "body": base64.b64encode(b"\x00\xffbytes").decode(), "isBase64Encoded": True}
    response = call("GET", f"{base_url}/users", headers={"Authorization": "k"})
    assert response.status_code == 201
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b"\x00\xffbytes"


def test_a_path_no_route_matches_is_the_missing_token_response(base_url: str, functions: StandInFunctions):
    """Given /{proxy+} needs at least one segment, when / is called, then the template's
    MISSING_AUTHENTICATION_TOKEN response (404 not_found) and no function runs."""
    error_of(call("GET", f"{base_url}/", headers={"Authorization": "k"}), 404, "not_found")
    assert functions.events == {}


def test_the_health_endpoint_needs_no_key_and_waits_for_the_whole_stack(base_url: str, gateway: Gateway,
                                                                        functions: StandInFunctions):
    """Given the local health check, when it is called without a key, then 503 "starting" while the stack
    is still starting its services, and 200 {"status": "ok"} once it has started them all."""
    gateway.ready.clear()
    starting = call("GET", f"{base_url}/_local/health")
    assert starting.status_code == 503 and starting.json() == {"status": "starting"}
    gateway.ready.set()
    response = call("GET", f"{base_url}/_local/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert functions.events == {}


def test_api_routes_answer_503_with_retry_after_until_the_stack_is_ready(base_url: str, gateway: Gateway,
                                                                         functions: StandInFunctions):
    """Given a gateway whose stack has not started every service, when an API route is called, then 503
    "starting" with Retry-After in the one error shape, and no function runs; once ready it is served."""
    gateway.ready.clear()
    early = call("GET", f"{base_url}/users", headers={"Authorization": "k"})
    assert early.headers["Retry-After"] == "1"
    error_of(early, 503, "starting")
    assert functions.events == {}
    gateway.ready.set()
    assert call("GET", f"{base_url}/users", headers={"Authorization": "k"}).status_code == 200


def _raw(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(connection: socket.socket) -> bytes:
    received = b""
    while True:
        part = connection.recv(65536)
        if not part:
            return received
        received += part


def test_a_stalled_connection_is_closed(gateway: Gateway, monkeypatch: pytest.MonkeyPatch):
    """Given a client that never finishes its headers, when the read timeout passes, then the gateway closes
    the connection (its thread is free again) without calling anything."""
    monkeypatch.setattr(gateway_module._RequestHandler, "timeout", 1.0)
    server = make_server(gateway, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with _raw(f"http://127.0.0.1:{server.server_port}") as connection:
            connection.sendall(b"GET /users HTTP/1.1\r\nHost: local\r\nAuthori")
            started = time.monotonic()
            assert _answer(connection) == b""  # closed, nothing said
            assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_body_over_the_limit_is_413_before_it_is_read(base_url: str, functions: StandInFunctions,
                                                        monkeypatch: pytest.MonkeyPatch, framing: str):
    """Given a limit of 1,000 bytes, when a body announces more (one chunk of 2,048, or a Content-Length of
    2,048) and sends none of it, then 413 at once (the gateway does not wait for the body), in the one error
    shape, the connection closed, no function called."""
    monkeypatch.setattr(gateway_module, "MAX_BODY_BYTES", 1000)
    head = (b"POST /users HTTP/1.1\r\nHost: local\r\nAuthorization: k\r\nContent-Type: application/json\r\n"
            + (b"Transfer-Encoding: chunked\r\n\r\n800\r\n" if framing == "chunked" else b"Content-Length: 2048\r\n\r\n"))
    with _raw(base_url) as connection:
        connection.sendall(head)
        answer = _answer(connection)
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and b"Connection: close" in status, answer[:300]
    assert_error_shape(json.loads(body))  # the template's REQUEST_TOO_LARGE response
    assert functions.events == {}


def test_a_chunked_body_within_the_limit_is_served(base_url: str, functions: StandInFunctions,
                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gateway_module, "MAX_BODY_BYTES", 1000)
    chunks = iter([b'{"name": "', b"x" * 500, b'"}'])
    response = call("POST", f"{base_url}/users", headers={"Authorization": "k", "Content-Type": "application/json"},
                    data=chunks)
    assert response.status_code == 200
    assert json.loads(functions.events["CreateUserFunction"][-1]["body"]) == {"name": "x" * 500}


def test_connections_over_the_limit_are_answered_503_and_closed(gateway: Gateway, monkeypatch: pytest.MonkeyPatch):
    """Given a limit of 2 open connections held by idle clients, when a third connects, then it is answered
    503 too_many_connections and closed; once one closes, new connections are served again."""
    monkeypatch.setattr(gateway_module.GatewayServer, "max_connections", 2)
    server = make_server(gateway, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        idle = [_raw(url), _raw(url)]
        time.sleep(0.3)
        with _raw(url) as third:
            answer = _answer(third)
        assert answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer, answer
        idle.pop().close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            response = call("GET", f"{url}/_local/health")
            if response.status_code == 200:
                break
            time.sleep(0.1)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        for connection in idle:
            connection.close()
    finally:
        server.shutdown()
        server.server_close()
