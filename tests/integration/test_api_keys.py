"""API keys: issued by an admin (for its own program) or by the operator (for any program), stored only as
SHA-256, checked by the REQUEST authorizer, revocable; programs are created by the operator alone."""

from __future__ import annotations

import hashlib

import pytest

from tests.integration.conftest import all_items
from tests.support import FakeContext, api_event, call, handler, load_event


def authorize(header: str | None) -> dict:
    event = load_event("authorizer")
    if header is None:
        event["headers"].pop("Authorization")
    else:
        event["headers"]["Authorization"] = header
    return handler("authorizer")(event, FakeContext())


def issue(scopes: list[str], **extra: object) -> dict:
    status, body, headers = call("create_api_key", api_event("create_api_key", body={
        "name": "merchant", "scopes": scopes, **extra}))
    assert status == 201, body
    assert headers.get("Cache-Control") == "no-store"
    return body


def as_operator(name: str, body: dict) -> tuple[int, dict]:
    """A request from the operator key (the sample event of create_program carries its context)."""
    event = api_event(name, body=body)
    event["requestContext"]["authorizer"] = load_event("create_program")["requestContext"]["authorizer"]
    status, answer, _ = call(name, event)
    return status, answer


class TestIssueAndAuthorize:
    def test_an_issued_key_authorizes_with_its_scopes_raw_or_bearer(self, aws):
        """Given a key issued with wallet:read, when presented raw or as Bearer, then the authorizer allows
        every route of the stage and passes the scopes and program in its context."""
        key = issue(["wallet:read"])
        for header in (key["api_key"], f"Bearer {key['api_key']}", f"bearer  {key['api_key']} "):
            decision = authorize(header)
            assert decision["principalId"] == key["key_id"]
            statement = decision["policyDocument"]["Statement"][0]
            assert statement["Effect"] == "Allow"
            assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"
            assert decision["context"] == {"key_id": key["key_id"], "scopes": "wallet:read", "program_id": "default",
                                           "issuer": "", "operator": "false"}

    def test_an_issuer_key_carries_its_issuer_and_only_the_operator_flag_says_operator(self, aws):
        """Given an issuer key for Kohls, then the authorizer passes the binding (and no operator flag)."""
        key = issue(["issuer"], issuer="Kohls")
        assert key["issuer"] == "Kohls" and key["operator"] is False
        assert authorize(key["api_key"])["context"] == {"key_id": key["key_id"], "scopes": "issuer",
                                                        "program_id": "default", "issuer": "Kohls",
                                                        "operator": "false"}

    def test_only_the_hash_is_stored(self, aws):
        key = issue(["wallet:read", "wallet:write"])
        items = all_items(aws)
        assert key["api_key"] not in repr(items)
        digest = hashlib.sha256(key["api_key"].encode()).hexdigest()
        assert any(i["PK"] == f"APIKEY#{digest}" for i in items)

    @pytest.mark.parametrize("header", [None, "", "Bearer ", "fgk_unknown", "x" * 1000])
    def test_missing_or_unknown_keys_are_unauthorized(self, aws, header):
        issue(["wallet:read"])
        with pytest.raises(Exception, match="^Unauthorized$"):
            authorize(header)

    def test_a_revoked_key_stops_working_and_stays_listed(self, aws):
        key = issue(["wallet:read"])
        event = api_event("revoke_api_key", path_id=key["key_id"])
        status, body, _ = call("revoke_api_key", event)
        assert status == 200 and body["status"] == "REVOKED" and body["revoked_at"]
        with pytest.raises(Exception, match="Unauthorized"):
            authorize(key["api_key"])
        status, listed, _ = call("list_api_keys", load_event("list_api_keys"))
        assert status == 200 and [k["status"] for k in listed] == ["REVOKED"]
        assert all("api_key" not in k for k in listed)

    def test_revoking_an_unknown_key_is_404(self, aws):
        status, body, _ = call("revoke_api_key", load_event("revoke_api_key"))
        assert status == 404 and body["error"]["code"] == "not_found"

    @pytest.mark.parametrize("body, field", [
        ({"name": "x", "scopes": ["root"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"scopes": ["admin"]}, "name"),
    ])
    def test_invalid_key_requests_are_422(self, aws, body, field):
        status, answer, _ = call("create_api_key", api_event("create_api_key", body=body))
        assert status == 422 and answer["error"]["fields"][0]["field"] == field


class TestProgramsAndOperator:
    @pytest.mark.parametrize("body", [
        {"name": "x", "scopes": ["issuer"]},                                   # the issuer scope without an issuer
        {"name": "x", "scopes": ["wallet:read"], "issuer": "Kohls"},           # an issuer without the scope
        {"name": "x", "scopes": ["admin", "issuer"], "issuer": "Kohls"},       # admin is never bound to one
    ])
    def test_an_issuer_binding_goes_with_the_issuer_scope_alone(self, aws, body):
        status, answer, _ = call("create_api_key", api_event("create_api_key", body=body))
        assert status == 422 and answer["error"]["code"] == "validation_failed"
        assert not [i for i in all_items(aws) if i.get("type") == "APIKEY"]

    def test_an_admin_may_not_create_programs_or_keys_for_another_program_or_operator_keys(self, aws):
        """Given an admin key of the default program, then creating a program, a key for another program or
        an operator key is 403 and nothing is stored."""
        event = api_event("create_program", body={"program_id": "acme", "name": "Acme"})
        event["requestContext"]["authorizer"]["operator"] = "false"  # an admin key, not the operator
        status, body, _ = call("create_program", event)
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert not [i for i in all_items(aws) if i.get("type") == "PROGRAM" or i["PK"].startswith("PROGRAM#")]
        assert as_operator("create_program", {"program_id": "acme", "name": "Acme"})[0] == 201
        for extra, field in (({"program_id": "acme"}, "program_id"), ({"operator": True}, "operator")):
            status, body, _ = call("create_api_key", api_event("create_api_key", body={
                "name": "x", "scopes": ["admin"], **extra}))
            assert status == 403 and body["error"]["fields"][0]["field"] == field, body
        assert not [i for i in all_items(aws) if i.get("type") == "APIKEY"]

    def test_the_operator_creates_a_program_then_a_key_that_acts_in_it_alone(self, aws):
        """Given the operator, when it creates program acme and an admin key for it, then that key is bound to
        acme (authorizer context), is listed only in acme, and a second program with the same id is 409."""
        status, program = as_operator("create_program", {"program_id": "acme", "name": "Acme", "delivery_methods": [1]})
        assert status == 201 and program["program_id"] == "acme" and program["delivery_methods"] == [1]
        assert as_operator("create_program", {"program_id": "acme", "name": "Again"})[0] == 409
        assert as_operator("create_program", {"program_id": "default", "name": "Default"})[0] == 409
        status, key = as_operator("create_api_key", {"name": "acme admin", "scopes": ["admin"], "program_id": "acme"})
        assert status == 201 and key["program_id"] == "acme"
        assert authorize(key["api_key"])["context"]["program_id"] == "acme"
        status, listed, _ = call("list_api_keys", load_event("list_api_keys"))  # the default program's admin
        assert status == 200 and key["key_id"] not in [k["key_id"] for k in listed]
        status, _, _ = call("revoke_api_key", api_event("revoke_api_key", path_id=key["key_id"]))
        assert status == 404  # another program's key is not there for the default program's admin
        authorize(key["api_key"])  # still active

    def test_a_key_for_an_unknown_program_is_refused(self, aws):
        status, body = as_operator("create_api_key", {"name": "x", "scopes": ["admin"], "program_id": "nowhere"})
        assert status == 404 and body["error"]["fields"][0]["field"] == "program_id"
