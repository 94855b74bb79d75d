"""Trust over HTTP against the local stack: two programs side by side see, list, pay with, refund and change
nothing of each other; an issuer key for Kohls cannot register or change a Target card or product; no wallet
or checkout key can change a balance; a balance activity loads once per Idempotency-Key; a refund without one
is a 400. Every key here is created through the API by the stack's operator key."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalStack, assert_error_shape

pytestmark = pytest.mark.e2e
D = Decimal


class Program:
    """One program on the stack: its keys by role, and calls made with them."""

    def __init__(self, http: requests.Session, stack: LocalStack, program_id: str) -> None:
        self.http, self.stack, self.program_id = http, stack, program_id
        self.keys: dict[str, str] = {}

    def issue(self, role: str, scopes: list[str], issuer: str | None = None) -> None:
        body: dict[str, Any] = {"name": f"{role} of {self.program_id}", "scopes": scopes,
                                "program_id": self.program_id}
        if issuer:
            body["issuer"] = issuer
        answer = self.http.post(self.stack.url("/admin/api_keys"), json=body, headers=self.stack.headers(), timeout=30)
        assert answer.status_code == 201, answer.text
        assert answer.json()["program_id"] == self.program_id and answer.json().get("issuer") == issuer
        self.keys[role] = answer.json()["api_key"]

    def call(self, role: str, method: str, path: str, body: Any = None, idem: str | None = None) -> requests.Response:
        headers = self.stack.headers(self.keys[role])
        if idem:
            headers["Idempotency-Key"] = idem
        return self.http.request(method, self.stack.url(path), json=body, headers=headers, timeout=30)

    def ok(self, role: str, method: str, path: str, body: Any = None, idem: str | None = None,
           status: int = 200) -> Any:
        answer = self.call(role, method, path, body, idem)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer.json(parse_float=D) if answer.content else None


def _program(http: requests.Session, stack: LocalStack, name: str) -> Program:
    program_id = f"{name}-{uuid.uuid4().hex[:8]}"
    created = http.post(stack.url("/admin/programs"), json={"program_id": program_id, "name": name,
                                                            "delivery_methods": [1]},
                        headers=stack.headers(), timeout=30)
    assert created.status_code == 201, created.text
    program = Program(http, stack, program_id)
    program.issue("admin", ["admin"])
    program.issue("wallet", ["wallet:read", "wallet:write"])
    program.issue("checkout", ["checkout"])
    program.issue("kohls", ["issuer"], issuer="Kohls")
    return program


JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson"}
KOHLS = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
         "expiry_date": "2035-12-31"}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}


def _seed(program: Program, email: str, extra_users: int = 0) -> dict[str, int]:
    """The seed's Jack, his Kohl's card (linked) and the dog bed, each made by the role that owns it."""
    for n in range(extra_users):   # records numbered before Jack's, so that his ids exceed another program's
        program.ok("wallet", "POST", "/users", {**JACK, "user_id": f"filler{n}", "amazon_id": f"amz-filler{n}",
                                                  "email": f"f{n}@example.com"},
                   status=201)
        program.ok("kohls", "POST", "/gift_cards", {**KOHLS, "card_id": f"filler-card-{n}", "user_id": f"filler{n}"},
                   status=201)
        program.ok("kohls", "POST", "/products", {**DOG_BED, "product_id": f"filler-product-{n}"}, status=201)
    user = program.ok("wallet", "POST", "/users", {**JACK, "email": email}, status=201)
    card = program.ok("kohls", "POST", "/gift_cards", KOHLS, status=201)
    program.ok("wallet", "PUT", f"/users/{user['id']}", {**JACK, "email": email, "gift_cards": ["kohls-gc-001"]})
    product = program.ok("kohls", "POST", "/products", DOG_BED, status=201)
    return {"user": user["id"], "card": card["id"], "product": product["id"]}


@pytest.fixture(scope="module")
def programs(http: requests.Session, stack: LocalStack) -> tuple[Program, Program]:
    return _program(http, stack, "alpha"), _program(http, stack, "beta")


def test_two_programs_side_by_side_see_pay_refund_and_change_nothing_of_each_other(programs):
    a, b = programs
    mine = _seed(a, "jack@alpha.example", extra_users=3)      # alpha's ids run past beta's
    theirs = _seed(b, "jack@beta.example")
    # reads and lists: beta sees only its own Jack, and alpha's higher ids are not there at all
    assert [u["email"] for u in b.ok("admin", "GET", "/users")] == ["jack@beta.example"]
    assert [u["email"] for u in b.ok("admin", "GET", "/users?user_id=user006")] == ["jack@beta.example"]
    for path in (f"/users/{mine['user']}", f"/gift_cards/{mine['card']}", f"/products/{mine['product']}",
                 f"/gift_cards/{mine['card']}/activities"):
        answer = b.call("admin", "GET", path)
        assert answer.status_code == 404, (path, answer.text)
        assert_error_shape(answer.json(), "not_found")
    # changes: nothing of alpha's can be written from beta
    for method, path, body in (("PATCH", f"/users/{mine['user']}", {"name": "Mallory"}),
                               ("PATCH", f"/gift_cards/{mine['card']}", {"state": "BLOCKED"}),
                               ("DELETE", f"/products/{mine['product']}", None)):
        assert b.call("admin", method, path, body).status_code == 404, (method, path)
    # the same user_id and Idempotency-Key in both programs pay from each program's own card
    basket = {"user_id": "user006", "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]}
    paid_a = a.ok("checkout", "POST", "/payments", basket, idem="shared-key", status=201)
    paid_b = b.ok("checkout", "POST", "/payments", {**basket, "items": [{"product_id": "kohls-dogbed-001",
                                                                         "quantity": 2}]},
                  idem="shared-key", status=201)
    assert paid_a["id"] != paid_b["id"]
    assert a.ok("admin", "GET", f"/gift_cards/{mine['card']}")["balance"] == 200
    assert b.ok("admin", "GET", f"/gift_cards/{theirs['card']}")["balance"] == 150
    # alpha's payment cannot be read or refunded from beta
    assert b.call("checkout", "GET", f"/payments/{paid_a['id']}").status_code == 404
    refused = b.call("checkout", "POST", f"/payments/{paid_a['id']}/refunds", {"amount": 10}, idem="r-x")
    assert refused.status_code == 404, refused.text
    assert a.ok("admin", "GET", f"/gift_cards/{mine['card']}")["balance"] == 200
    # keys are per program too: beta's admin lists only beta's keys and cannot revoke alpha's
    listed = b.ok("admin", "GET", "/admin/api_keys")
    assert listed and {k["program_id"] for k in listed} == {b.program_id}
    alpha_keys = a.ok("admin", "GET", "/admin/api_keys")
    assert b.call("admin", "DELETE", f"/admin/api_keys/{alpha_keys[0]['key_id']}").status_code == 404
    # and a program's admin cannot mint keys for another program, nor create programs
    assert b.call("admin", "POST", "/admin/api_keys", {"name": "x", "scopes": ["admin"],
                                                       "program_id": a.program_id}).status_code == 403
    assert b.call("admin", "POST", "/admin/programs", {"program_id": "gamma", "name": "g"}).status_code == 403


def test_an_issuer_key_cannot_register_or_change_another_issuers_card_or_product(programs):
    a, _ = programs
    a.ok("wallet", "POST", "/users", {**JACK, "user_id": "user-t", "amazon_id": "amz-t", "email": "t@alpha.example"}, status=201)
    target = {"card_id": "target-gc-001", "user_id": "user-t", "issuer": "Target", "balance": 40,
              "expiry_date": "2035-12-31"}
    lamp = {"product_id": "target-lamp-001", "name": "Lamp", "price": "20.00", "eligible_issuer": "Target"}
    for method, path, body in (("POST", "/gift_cards", target), ("POST", "/products", lamp)):
        refused = a.call("kohls", method, path, body)
        assert refused.status_code == 403, refused.text
        assert_error_shape(refused.json(), "forbidden")
    target_card = a.ok("admin", "POST", "/gift_cards", target, status=201)
    target_lamp = a.ok("admin", "POST", "/products", lamp, status=201)
    for method, path, body, idem in (
            ("PATCH", f"/gift_cards/{target_card['id']}", {"state": "BLOCKED"}, None),
            ("PUT", f"/gift_cards/{target_card['id']}", {**target, "state": "BLOCKED"}, None),
            ("DELETE", f"/gift_cards/{target_card['id']}", None, None),
            ("POST", f"/gift_cards/{target_card['id']}/activities", {"type": "LOAD", "amount": 5, "reason": "x"},
             "t-load"),
            ("PATCH", f"/products/{target_lamp['id']}", {"price": "1.00"}, None),
            ("DELETE", f"/products/{target_lamp['id']}", None, None)):
        assert a.call("kohls", method, path, body, idem).status_code == 403, (method, path)
    assert a.ok("admin", "GET", f"/gift_cards/{target_card['id']}")["state"] == "ACTIVE"
    assert a.ok("admin", "GET", f"/gift_cards/{target_card['id']}")["balance"] == 40
    assert a.ok("admin", "GET", f"/products/{target_lamp['id']}")["price"] == "20.00"
    assert {c["issuer"] for c in a.ok("kohls", "GET", "/gift_cards")} == {"Kohls"}


def test_no_wallet_or_checkout_key_changes_a_balance_and_an_activity_loads_once(programs):
    a, _ = programs
    card = a.ok("kohls", "POST", "/gift_cards", {**KOHLS, "card_id": "kohls-gc-load", "balance": 10}, status=201)
    path = f"/gift_cards/{card['id']}"
    for role in ("wallet", "checkout"):
        assert a.call(role, "PATCH", path, {"balance": 999999}).status_code == 403
        assert a.call(role, "POST", f"{path}/activities", {"type": "LOAD", "amount": 5, "reason": "x"},
                      idem=f"{role}-1").status_code == 403
    refused = a.call("admin", "PATCH", path, {"balance": 999999})
    assert refused.status_code == 422 and "/activities" in refused.json()["error"]["message"], refused.text
    load = {"type": "LOAD", "amount": 15, "reason": "top-up"}
    first = a.ok("kohls", "POST", f"{path}/activities", load, idem="load-once", status=201)
    again = a.ok("kohls", "POST", f"{path}/activities", load, idem="load-once", status=201)
    assert first == again and first["balance"] == 25
    ledger = a.ok("admin", "GET", f"{path}/activities")
    assert [(e["type"], e["amount"]) for e in ledger] == [("ACTIVATE", 10), ("LOAD", 15)]
    assert a.ok("admin", "GET", path)["balance"] == 25
    missing = a.call("kohls", "POST", f"{path}/activities", load)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["error"]["message"]


def test_a_refund_without_an_idempotency_key_is_400_and_moves_nothing(programs):
    _, b = programs
    user = b.ok("wallet", "POST", "/users", {**JACK, "user_id": "user-r", "amazon_id": "amz-r", "email": "r@beta.example"},
                status=201)
    card = b.ok("kohls", "POST", "/gift_cards", {**KOHLS, "card_id": "kohls-gc-r", "user_id": "user-r"}, status=201)
    b.ok("wallet", "PUT", f"/users/{user['id']}", {**JACK, "user_id": "user-r", "amazon_id": "amz-r",
                                                   "email": "r@beta.example", "gift_cards": ["kohls-gc-r"]})
    b.ok("kohls", "POST", "/products", {**DOG_BED, "product_id": "kohls-bone-r"}, status=201)
    paid = b.ok("checkout", "POST", "/payments", {"user_id": "user-r", "items": [{"product_id": "kohls-bone-r"}]},
                idem="pay-r", status=201)
    refused = b.call("checkout", "POST", f"/payments/{paid['id']}/refunds", {"amount": 10})
    assert refused.status_code == 400, refused.text
    assert_error_shape(refused.json())
    assert b.ok("admin", "GET", f"/gift_cards/{card['id']}")["balance"] == 200
    assert b.ok("checkout", "GET", f"/payments/{paid['id']}")["refunded_amount"] == 0
