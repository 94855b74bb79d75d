"""API keys: issued by an admin, stored only as SHA-256, checked by the REQUEST authorizer, revocable."""

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


def issue(scopes: list[str]) -> dict:
    status, body, headers = call("create_api_key", api_event("create_api_key", body={"name": "merchant", "scopes": scopes}))
    assert status == 201, body
    assert headers.get("Cache-Control") == "no-store"
    return body


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
            assert decision["context"] == {"key_id": key["key_id"], "scopes": "wallet:read", "program_id": "default"}

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
