"""The seed's quick start and the API's refusals, over HTTP against the local stack (`make run`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import ROOT, LocalStack, assert_error_shape

pytestmark = pytest.mark.e2e

JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
KOHLS_CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
              "expiry_date": "2030-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}

# The seed's first curl, byte for byte: note the trailing comma after the email.
SEED_TRAILING_COMMA_BODY = ''' {
"user_id": "user006",
"amazon_id": "amz3456",
"name": "Jack Johnson",
"email": "jack.johnson@example.com",
}'''


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_user(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {"user_id": f"user-{tag}", "amazon_id": f"amz-{tag}", "name": "Test User",
            "email": f"user-{tag}@example.com", **overrides}


def error_of(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error with this status, in the one error shape, naming its request id."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    error = assert_error_shape(body, code)
    assert body["request_id"] == response.headers["x-amzn-RequestId"]
    return error


class TestQuickStart:
    def test_the_seed_quick_start_works_as_the_readme_shows_it(self, stack: LocalStack, http: requests.Session):
        """Given a running local stack and its bootstrap key,
        when Jack registers, registers his Kohl's card, links it with PUT and a Kohl's product is registered,
        then each step answers as the quick start says: 201 with an integer id, 201, 200 with gift_cards,
        201 with the price written "50.00"."""
        created = http.post(stack.url("/users"), json=JACK, headers=stack.headers())
        assert created.status_code == 201, created.text
        user = created.json()
        assert isinstance(user["id"], int) and not isinstance(user["id"], bool)
        assert {k: user[k] for k in JACK} == JACK

        card = http.post(stack.url("/gift_cards"), json=KOHLS_CARD, headers=stack.headers())
        assert card.status_code == 201, card.text
        assert card.json()["card_id"] == "kohls-gc-001" and card.json()["balance"] == 250
        assert isinstance(card.json()["id"], int)

        linked = http.put(stack.url(f"/users/{user['id']}"), json={**JACK, "gift_cards": ["kohls-gc-001"]},
                          headers=stack.headers())
        assert linked.status_code == 200, linked.text
        assert linked.json()["gift_cards"] == ["kohls-gc-001"]
        assert linked.json()["id"] == user["id"]
        reread = http.get(stack.url(f"/users/{user['id']}"), headers=stack.headers())
        assert reread.status_code == 200 and reread.json()["gift_cards"] == ["kohls-gc-001"]

        product = http.post(stack.url("/products"), json=DOG_BED, headers=stack.headers())
        assert product.status_code == 201, product.text
        assert product.json()["price"] == "50.00"
        assert isinstance(product.json()["id"], int)

    @pytest.mark.parametrize("bearer", [False, True], ids=["raw-key", "bearer"])
    def test_both_authorization_header_forms_are_accepted(self, stack: LocalStack, http: requests.Session,
                                                          bearer: bool):
        """Given the bootstrap key, when it is sent as `Authorization: <key>` or `Authorization: Bearer <key>`,
        then the request is served (a JSON array of users)."""
        response = http.get(stack.url("/users"), headers=stack.headers(bearer=bearer))
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)


class TestBadInput:
    def test_the_seeds_trailing_comma_is_malformed_json(self, stack: LocalStack, http: requests.Session):
        """Given the seed's curl body with its trailing comma, when it is posted to /users,
        then the answer is 400 malformed_json and nobody is registered."""
        response = http.post(stack.url("/users"), data=SEED_TRAILING_COMMA_BODY, headers=stack.headers())
        error = error_of(response, 400, "malformed_json")
        assert error["fields"] and error["fields"][0]["field"] == "body"

    def test_an_invalid_email_is_a_422_naming_the_field(self, stack: LocalStack, http: requests.Session):
        """Given a user whose email is not an address, when registered, then 422 names "email"."""
        response = http.post(stack.url("/users"), json=new_user(email="not-an-email"), headers=stack.headers())
        error = error_of(response, 422, "validation_failed")
        assert "email" in [f["field"] for f in error["fields"]]

    def test_an_unknown_id_is_404(self, stack: LocalStack, http: requests.Session):
        """Given no user 987654321, when it is read, then 404 not_found."""
        error_of(http.get(stack.url("/users/987654321"), headers=stack.headers()), 404, "not_found")

    def test_a_non_numeric_id_is_404(self, stack: LocalStack, http: requests.Session):
        """Given ids are integers, when /users/abc is read, then 404 (there is no such resource)."""
        error_of(http.get(stack.url("/users/abc"), headers=stack.headers()), 404, "not_found")

    def test_a_method_the_resource_lacks_is_405_with_allow(self, stack: LocalStack, http: requests.Session):
        """Given /users serves GET and POST, when DELETE /users is sent, then 405 with an Allow header."""
        response = http.delete(stack.url("/users"), headers=stack.headers())
        error_of(response, 405, "method_not_allowed")
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}

    def test_an_unknown_path_is_404(self, stack: LocalStack, http: requests.Session):
        """Given no resource /wallets, when it is read, then 404 not_found (not API Gateway's 403)."""
        error_of(http.get(stack.url("/wallets/1"), headers=stack.headers()), 404, "not_found")

    def test_an_unsupported_filter_is_400(self, stack: LocalStack, http: requests.Session):
        """Given users can be filtered on user_id, amazon_id and email only, when ?color=red is asked,
        then 400 unsupported_filter names the parameter."""
        response = http.get(stack.url("/users"), params={"color": "red"}, headers=stack.headers())
        error = error_of(response, 400, "unsupported_filter")
        assert [f["field"] for f in error["fields"]] == ["color"]


class TestAuthorization:
    def test_no_authorization_header_is_401(self, stack: LocalStack, http: requests.Session):
        """Given no Authorization header, when /users is read, then the gateway answers 401 in the error shape."""
        error_of(http.get(stack.url("/users")), 401, "unauthorized")

    def test_an_unknown_key_is_401(self, stack: LocalStack, http: requests.Session):
        """Given a key nobody issued, when it is used, then 401 unauthorized."""
        response = http.get(stack.url("/users"), headers=stack.headers("fgk_" + uuid.uuid4().hex))
        error_of(response, 401, "unauthorized")

    def test_a_read_only_key_is_refused_writes_and_stops_working_once_revoked(
            self, stack: LocalStack, http: requests.Session):
        """Given a key issued through POST /admin/api_keys with only wallet:read,
        when it registers a user, then 403; when it lists users, then 200;
        and once DELETE /admin/api_keys/{key_id} has revoked it, then 401."""
        issued = http.post(stack.url("/admin/api_keys"), json={"name": "e2e reader", "scopes": ["wallet:read"]},
                           headers=stack.headers())
        assert issued.status_code == 201, issued.text
        key, key_id = issued.json()["api_key"], issued.json()["key_id"]
        assert issued.json()["scopes"] == ["wallet:read"]

        error_of(http.post(stack.url("/users"), json=new_user(), headers=stack.headers(key)), 403, "forbidden")
        reading = http.get(stack.url("/users"), headers=stack.headers(key, bearer=True))
        assert reading.status_code == 200, reading.text

        revoked = http.delete(stack.url(f"/admin/api_keys/{key_id}"), headers=stack.headers())
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "REVOKED"
        error_of(http.get(stack.url("/users"), headers=stack.headers(key)), 401, "unauthorized")

    def test_a_wallet_key_cannot_issue_keys(self, stack: LocalStack, http: requests.Session):
        """Given a key with wallet scopes but not admin, when it asks for a new key, then 403."""
        issued = http.post(stack.url("/admin/api_keys"),
                           json={"name": "e2e writer", "scopes": ["wallet:read", "wallet:write"]},
                           headers=stack.headers())
        assert issued.status_code == 201, issued.text
        response = http.post(stack.url("/admin/api_keys"), json={"name": "escalation", "scopes": ["admin"]},
                             headers=stack.headers(issued.json()["api_key"]))
        error_of(response, 403, "forbidden")


class TestLocalAdmin:
    """Roles over HTTP (issuer keys, programs apart, balances through activities) are in test_trust.py; here,
    the command a newcomer uses to make those keys on `make run`."""

    def test_local_admin_creates_issuer_keys_and_programs_with_the_bootstrap_key(
            self, stack: LocalStack, http: requests.Session, tmp_path: Path):
        """Given the stack's bootstrap key in FLEXIGIFT_API_KEY, when `python -m local.admin create-key
        --issuer` and `create-program` run, then the key is bound to that issuer and the program exists (a
        key can be issued for it)."""
        port = str(urlsplit(stack.base_url).port)
        env = {**os.environ, "FLEXIGIFT_API_KEY": stack.api_key}

        def admin(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([sys.executable, "-m", "local.admin", "--state-dir", str(tmp_path), "--port", port,  # noqa: S603
                                   *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return done

        issuer = unique("Issuer")
        key = admin("create-key", "--scopes", "issuer", "--issuer", issuer).stdout.strip()
        assert f"issuer {issuer}" in admin("create-key", "--scopes", "issuer", "--issuer", issuer).stderr
        card = {"card_id": unique("card"), "user_id": "nobody", "issuer": "Someone-else", "balance": 1,
                "expiry_date": "2035-12-31"}
        error_of(http.post(stack.url("/gift_cards"), json=card, headers=stack.headers(key)), 403, "forbidden")
        program_id = unique("program")
        admin("create-program", program_id, "--delivery-methods", "1")
        issued = admin("create-key", "--scopes", "admin", "--program-id", program_id, "--json").stdout
        assert f'"program_id": "{program_id}"' in issued


class TestCollections:
    def test_pages_are_linked_and_together_hold_every_item_once(self, stack: LocalStack, http: requests.Session):
        """Given 5 products of one issuer, when they are listed 2 at a time,
        then each page is a JSON array of at most 2, the next page is in a Link rel="next" header on this
        host, and following the links yields the 5 products, each once."""
        issuer = unique("issuer")
        created = set()
        for n in range(5):
            response = http.post(stack.url("/products"), headers=stack.headers(), json={
                "product_id": f"{issuer}-p{n}", "name": f"Product {n}", "price": f"{n + 1}.50",
                "eligible_issuer": issuer})
            assert response.status_code == 201, response.text
            created.add(response.json()["id"])

        first = http.get(stack.url("/products"), params={"eligible_issuer": issuer, "limit": 2},
                         headers=stack.headers())
        assert first.status_code == 200, first.text
        assert isinstance(first.json(), list) and len(first.json()) == 2
        assert "next" in first.links and first.links["next"]["url"].startswith(stack.base_url + "/products?")

        seen = [p["id"] for p in first.json()]
        url, pages = first.links.get("next", {}).get("url"), 1
        while url:
            page = http.get(url, headers=stack.headers())
            assert page.status_code == 200, page.text
            assert len(page.json()) <= 2
            assert all(p["eligible_issuer"] == issuer for p in page.json())
            seen += [p["id"] for p in page.json()]
            url, pages = page.links.get("next", {}).get("url"), pages + 1
            assert pages <= 5, "the links never end"
        assert sorted(seen) == sorted(created)


class TestConcurrency:
    def test_parallel_registrations_of_one_user_id_leave_exactly_one_user(self, stack: LocalStack):
        """Given 20 clients registering the same user_id at the same moment,
        when their POST /users race, then exactly one gets 201 and nineteen get 409,
        and listing that user_id afterwards finds exactly one user."""
        user = new_user()
        start = threading.Barrier(20)

        def register(_n: int) -> requests.Response:
            start.wait(timeout=30)
            return requests.post(stack.url("/users"), json=user, headers=stack.headers(), timeout=60)

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(register, range(20)))

        statuses = sorted(r.status_code for r in responses)
        unexpected = [r.text for r in responses if r.status_code not in (201, 409)]
        assert statuses == [201] + [409] * 19, (statuses, unexpected)
        for conflict in (r for r in responses if r.status_code == 409):
            error_of(conflict, 409, "conflict")
        found = requests.get(stack.url("/users"), params={"user_id": user["user_id"]}, headers=stack.headers(),
                             timeout=30)
        assert found.status_code == 200, found.text
        assert [u["user_id"] for u in found.json()] == [user["user_id"]]
