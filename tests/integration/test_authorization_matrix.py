"""Who may call what: every API route of template.yaml (derived from its functions' Api events, never listed by
hand) is called without a key and with each kind of key, and each outcome is held to EXPECTED below: allowed
(anything but 401/403: a 2xx, or 400/404/409/422 because the request names records that may not exist - it is
the authorization that is tested here) or refused (403). A route without an entry in EXPECTED fails the test,
so a new route cannot be added without saying who may call it. Without a key every route answers 401.

The roles are API keys as the authorizer describes them (requestContext.authorizer): one scope each, an issuer
key bound to Kohls, an admin of the default program, an admin of another program, and the platform's operator."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from flexigift.api import create_resolver, lambda_entry
from local import template
from tests.support import FakeContext, api_event, call, load_event


def context(scopes: str, *, issuer: str = "", program: str = "default", operator: bool = False) -> dict[str, str]:
    key_id = "key_" + (scopes.replace(":", "_") + ("_" + program if program != "default" else ""))
    return {"principalId": key_id, "key_id": key_id, "scopes": scopes, "program_id": program, "issuer": issuer,
            "operator": "true" if operator else "false"}


OTHER_PROGRAM = "acme-rewards"   # created by the operator (events/create_program.json) before the calls
ROLES: dict[str, dict[str, str] | None] = {
    "no key": None,
    "wallet:read": context("wallet:read"),
    "wallet:write": context("wallet:write"),
    "issuer Kohls": context("issuer", issuer="Kohls"),
    "checkout": context("checkout"),
    "rewards:read": context("rewards:read"),
    "rewards:order": context("rewards:order"),
    "webhooks": context("webhooks"),
    "admin": context("admin"),
    "admin of another program": context("admin", program=OTHER_PROGRAM),
    "operator": context("admin", operator=True),
}
ADMINS = {"admin", "admin of another program", "operator"}   # `admin` passes every scope, in its own program
ANY_KEY = set(ROLES) - {"no key"}

# (method, path) -> the roles allowed; every other role with a key gets 403, no key 401.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/users"): {"wallet:write"} | ADMINS,
    ("GET", "/users"): {"wallet:read"} | ADMINS,
    ("GET", "/users/{id}"): {"wallet:read"} | ADMINS,
    ("PUT", "/users/{id}"): {"wallet:write"} | ADMINS,
    ("PATCH", "/users/{id}"): {"wallet:write"} | ADMINS,
    ("DELETE", "/users/{id}"): {"wallet:write"} | ADMINS,
    ("POST", "/gift_cards"): {"issuer Kohls"} | ADMINS,
    ("GET", "/gift_cards"): {"wallet:read", "issuer Kohls"} | ADMINS,
    ("GET", "/gift_cards/{id}"): {"wallet:read", "issuer Kohls"} | ADMINS,
    ("PUT", "/gift_cards/{id}"): {"issuer Kohls"} | ADMINS,
    ("PATCH", "/gift_cards/{id}"): {"issuer Kohls"} | ADMINS,
    ("DELETE", "/gift_cards/{id}"): {"issuer Kohls"} | ADMINS,
    ("GET", "/gift_cards/{id}/activities"): {"wallet:read", "issuer Kohls"} | ADMINS,
    ("POST", "/gift_cards/{id}/activities"): {"issuer Kohls"} | ADMINS,   # balances move only by their issuer
    ("POST", "/products"): {"issuer Kohls"} | ADMINS,
    ("GET", "/products"): {"wallet:read", "issuer Kohls", "checkout"} | ADMINS,
    ("GET", "/products/{id}"): {"wallet:read", "issuer Kohls", "checkout"} | ADMINS,
    ("PUT", "/products/{id}"): {"issuer Kohls"} | ADMINS,
    ("PATCH", "/products/{id}"): {"issuer Kohls"} | ADMINS,
    ("DELETE", "/products/{id}"): {"issuer Kohls"} | ADMINS,
    ("POST", "/checkout/quote"): {"checkout"} | ADMINS,
    ("POST", "/payments"): {"checkout"} | ADMINS,
    ("GET", "/payments/{id}"): {"checkout"} | ADMINS,
    ("POST", "/payments/{id}/refunds"): {"checkout"} | ADMINS,
    ("POST", "/payments/{id}/capture"): {"checkout"} | ADMINS,            # the merchant ships the order
    ("POST", "/payments/{id}/void"): {"checkout"} | ADMINS,               # the merchant cancels it
    ("POST", "/admin/api_keys"): ADMINS,
    ("GET", "/admin/api_keys"): ADMINS,
    ("DELETE", "/admin/api_keys/{key_id}"): ADMINS,
    ("POST", "/admin/programs"): {"operator"},                            # not even a program's admin
    ("GET", "/rewards/catalog"): {"rewards:read"} | ADMINS,
    ("POST", "/rewards/order"): {"rewards:order"} | ADMINS,
    ("GET", "/rewards/orders"): {"rewards:read"} | ADMINS,
    ("GET", "/rewards/orders/{id}"): {"rewards:read"} | ADMINS,
    ("POST", "/rewards/orders/{id}/resend"): {"rewards:order"} | ADMINS,
    ("GET", "/events"): {"webhooks"} | ADMINS,
    ("GET", "/events/{id}"): {"webhooks"} | ADMINS,
    ("POST", "/webhooks/endpoints"): {"webhooks"} | ADMINS,
    ("GET", "/webhooks/endpoints"): {"webhooks"} | ADMINS,
    ("DELETE", "/webhooks/endpoints/{id}"): {"webhooks"} | ADMINS,
    ("GET", "/webhooks/endpoints/{id}/deliveries"): {"webhooks"} | ADMINS,
    ("POST", "/webhooks/endpoints/{id}/deliveries/{event_id}/retry"): {"webhooks"} | ADMINS,
}
# The route fallback's ANY routes (405 for a method a resource lacks, 404 for an unknown path): any valid key
# may learn that a route does not exist; its answer is 404/405 whoever asks.
FALLBACK_FUNCTION = "RouteFallbackFunction"
ALLOWED_STATUSES = {200, 201, 202, 204, 400, 404, 405, 409, 422}


def api_routes() -> list[template.Route]:
    """Every (method, path) of the template's functions' Api events, the fallback's ANY routes included."""
    return template.routes()


def expected(route: template.Route) -> set[str]:
    if route.method == "ANY" and route.function == FALLBACK_FUNCTION:
        return ANY_KEY
    return EXPECTED[(route.method, route.path)]


def test_every_route_has_an_expected_entry_and_every_entry_a_route():
    """Given template.yaml's routes, then each has its row in EXPECTED (the fallback's ANY routes aside) and
    EXPECTED names no route that does not exist: a new route fails here until someone says who may call it."""
    routes = {(r.method, r.path) for r in api_routes() if not (r.method == "ANY" and r.function == FALLBACK_FUNCTION)}
    assert routes - set(EXPECTED) == set(), f"routes without an expected outcome: {sorted(routes - set(EXPECTED))}"
    assert set(EXPECTED) - routes == set(), f"EXPECTED names routes template.yaml lacks: {sorted(set(EXPECTED) - routes)}"
    assert len(routes) >= 33


def _event(route: template.Route, who: dict[str, str] | None) -> dict[str, Any]:
    module = template.functions()[route.function].module
    event = api_event(module, authorizer=dict(who) if who is not None else None)
    if route.method == "ANY":  # the fallback's sample event, at this route's resource (a method it lacks)
        event["resource"] = event["requestContext"]["resourcePath"] = route.path
    return event


def test_each_role_gets_exactly_what_the_table_says_on_every_route(aws, rewards, webhooks):
    """Given the other program (created by the operator), when every route is called by every role, then no key
    is 401 everywhere, an allowed role is never 401/403, and every other role is 403."""
    status, body, _ = call("create_program", api_event("create_program", authorizer=ROLES["operator"]))
    assert status == 201, body
    mismatches, calls = [], 0
    for route in api_routes():
        module = template.functions()[route.function].module
        if route.method != "ANY" and (route.method, route.path) not in EXPECTED:
            mismatches.append(f"{route.method} {route.path}: no expected outcome in EXPECTED")
            continue
        allowed = expected(route)
        for role, who in ROLES.items():
            status, body, _ = call(module, _event(route, who))
            calls += 1
            if role == "no key":
                ok = status == 401
            elif role in allowed:
                ok = status in ALLOWED_STATUSES
            else:
                ok = status == 403
            if not ok:
                code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
                mismatches.append(f"{route.method} {route.path} as {role}: {status} {code}")
    assert not mismatches, "\n".join(mismatches)
    assert calls == len(api_routes()) * len(ROLES)   # 66 routes x 11 roles today


@pytest.mark.parametrize("module", sorted({template.functions()[r.function].module for r in template.routes()}))
def test_every_handler_declares_a_scope(module):
    """Given each API handler module, then its resolver declares at least one scope (a resolver with none
    refuses every request, so an undeclared one would be a broken route, not an open one)."""
    app = importlib.import_module(module).app
    assert app.required_scopes, f"{module} declares no scope"
    assert all(isinstance(s, str) and s for s in app.required_scopes), module


def test_a_resolver_that_declares_no_scope_refuses_even_an_admin():
    """Given a resolver created with no scope (and a route on it), when the admin and the operator call it, then
    403, and without a key 401: failing closed, whatever the route would do."""
    app = create_resolver()
    reached = []

    @app.get("/users")
    def handle():  # pragma: no cover - must not run
        reached.append(True)
        return {}

    entry = lambda_entry(app)
    for who in (ROLES["admin"], ROLES["operator"]):
        event = api_event("list_users", authorizer=dict(who))
        assert entry(event, FakeContext())["statusCode"] == 403
    assert entry(api_event("list_users", authorizer=None), FakeContext())["statusCode"] == 401
    assert reached == []


def test_the_authorizer_event_is_not_a_route():
    """The authorizer function has no Api event: it is reached only by API Gateway, with the key's header."""
    assert template.authorizer_function() not in {r.function for r in template.routes()}
    assert load_event("authorizer")["type"] == "REQUEST"
