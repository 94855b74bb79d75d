"""template.yaml is the one source of truth: check that what it declares hangs together."""

import json

from local import template
from tests.support import EVENTS, ROOT

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def _actions(logical_id):
    props = template.resources()[logical_id]["Properties"]
    actions = set()
    for policy in props.get("Policies", []):
        for statement in policy.get("Statement", []):
            actions |= set(statement["Action"])
    return actions


def test_every_function_has_its_handler_module_and_a_sample_event():
    for fn in template.functions().values():
        assert (ROOT / fn.code_uri / f"{fn.module}.py").is_file(), fn.logical_id
        assert (EVENTS / f"{fn.module}.json").is_file(), f"events/{fn.module}.json missing for {fn.logical_id}"


def test_read_operations_get_read_access_only_and_nobody_scans():
    for route in template.routes():
        actions = _actions(route.function)
        assert "dynamodb:Scan" not in actions, route
        if route.method == "GET":
            assert not actions & WRITE_ACTIONS, f"{route.function} reads but may write"


def test_fallback_allowed_methods_match_the_routes():
    declared = {}
    for route in template.routes():
        if route.method != "ANY":
            declared.setdefault(route.path, set()).add(route.method)
    fallback = template.functions()["RouteFallbackFunction"]
    allowed = {path: set(methods.split(",")) for path, methods in json.loads(fallback.environment["ALLOWED_METHODS"]).items()}
    assert allowed == declared
    any_paths = {r.path for r in template.routes() if r.method == "ANY"}
    assert any_paths == set(declared) | {"/{proxy+}"}


def test_table_has_pitr_ttl_and_on_demand_billing():
    props = template.resources()["Table"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert template.ttl_attribute() == "expires_at"


def test_every_route_is_behind_the_authorizer():
    api = template.resources("AWS::Serverless::Api")["Api"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "ApiKeyAuthorizer"
    for fn in template.functions().values():
        for event in fn.events.values():
            assert "Auth" not in event.get("Properties", {}), f"{fn.logical_id} overrides the authorizer"
