"""Trust, through the handlers against moto: programs kept apart, issuer keys bound to their issuer, balances that
move only through the ledger, a card's identity fixed once money moved, Idempotency-Keys required where money
moves. Each refusal is checked to have written nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import all_items, stored
from tests.support import api_event, call

D = Decimal
JACK = {"user_id": "user006", "amazon_id": "amz3456", "name": "Jack Johnson", "email": "jack.johnson@example.com"}
KOHLS_CARD = {"card_id": "kohls-gc-001", "user_id": "user006", "issuer": "Kohls", "balance": 250,
              "expiry_date": "2030-12-31"}
TARGET_CARD = {**KOHLS_CARD, "card_id": "target-gc-001", "issuer": "Target", "balance": 40}
DOG_BED = {"product_id": "kohls-dogbed-001", "name": "Deluxe Round Dog Bed", "price": "50.00",
           "eligible_issuer": "Kohls"}
LAMP = {"product_id": "target-lamp-001", "name": "Desk Lamp", "price": "20.00", "eligible_issuer": "Target"}


def key(program: str = "default", scopes: str = "admin", issuer: str = "", key_id: str = "key_test") -> dict[str, str]:
    """The authorizer's context for a key of `program` holding `scopes` (bound to `issuer` when given)."""
    return {"principalId": key_id, "key_id": key_id, "scopes": scopes, "program_id": program, "issuer": issuer,
            "operator": "false"}


ADMIN, ACME = key(), key("acme", key_id="key_acme")
KOHLS_ISSUER = key(scopes="issuer", issuer="Kohls", key_id="key_kohls")


def send(name: str, who: dict[str, str], body: Any = ..., path_id: Any = None, query: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    event = api_event(name, body=body, path_id=path_id, query=query, authorizer=who)
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "Idempotency-Key"}
    event["headers"].update(headers or {})
    status, answer, _ = call(name, event)
    return status, answer


def created(name: str, who: dict[str, str], body: dict, **kwargs: Any) -> dict:
    status, answer = send(name, who, body, **kwargs)
    assert status == 201, answer
    return answer


def wallet(who: dict[str, str]) -> dict[str, int]:
    """Jack with a linked Kohl's card and the dog bed, in the key's program; returns their numeric ids."""
    user = created("create_user", who, JACK)
    card = created("create_gift_card", who, KOHLS_CARD)
    status, body = send("replace_user", who, {**JACK, "gift_cards": ["kohls-gc-001"]}, path_id=user["id"])
    assert status == 200, body
    product = created("create_product", who, DOG_BED)
    return {"user": user["id"], "card": card["id"], "product": product["id"]}


def pay(who: dict[str, str], idem: str, quantity: int = 1) -> tuple[int, Any]:
    return send("create_payment", who, {"user_id": "user006", "items": [{"product_id": "kohls-dogbed-001",
                                                                          "quantity": quantity}]},
                headers={"Idempotency-Key": idem})


class TestProgramsAreSeparateWorlds:
    def test_two_programs_each_have_their_own_user006_and_see_none_of_the_other(self, aws):
        """Given the same seed records in two programs, when each reads, lists, pays and refunds, then each
        sees only its own records: the other's are 404 and absent from every list."""
        mine, theirs = wallet(ADMIN), wallet(ACME)
        assert created("create_user", ACME, {**JACK, "user_id": "user007", "amazon_id": "amz0007", "email": "x@example.com"})
        for name, path_id in (("get_user", mine["user"]), ("get_gift_card", mine["card"]),
                              ("get_product", mine["product"])):
            status, answer = send(name, ACME, path_id=path_id)
            # the same numeric id exists in both programs (ids are numbered per program); it must be ACME's own
            assert status == 200 and answer["id"] == path_id
        status, users = send("list_users", ACME)
        assert status == 200 and sorted(u["user_id"] for u in users) == ["user006", "user007"]
        status, users = send("list_users", ADMIN)
        assert [u["user_id"] for u in users] == ["user006"]
        # a payment in one program debits only that program's card
        status, payment = pay(ADMIN, "same-key")
        assert status == 201, payment
        status, acme_payment = pay(ACME, "same-key", quantity=2)   # same Idempotency-Key, other program
        assert status == 201 and acme_payment["id"] != payment["id"], acme_payment
        assert stored(aws, f"P#default#CARD#{mine['card']}", "CARD")["balance"] == D(200)
        assert stored(aws, f"P#acme#CARD#{theirs['card']}", "CARD")["balance"] == D(150)
        # the other program's payment is not there, for reading or refunding
        assert send("get_payment", ACME, path_id=payment["id"])[0] == 404
        status, refused = send("create_refund", ACME, {"amount": 10}, path_id=payment["id"],
                               headers={"Idempotency-Key": "r1"})
        assert status == 404, refused
        assert stored(aws, f"P#default#CARD#{mine['card']}", "CARD")["balance"] == D(200)

    def test_a_record_of_another_program_is_404_for_every_verb(self, aws):
        mine = wallet(ADMIN)
        other = key("acme", key_id="key_acme")
        before = all_items(aws)
        probes = [("get_user", None, mine["user"]), ("replace_user", {**JACK, "gift_cards": []}, mine["user"]),
                  ("update_user", {"name": "X"}, mine["user"]), ("delete_user", ..., mine["user"]),
                  ("get_gift_card", None, mine["card"]), ("update_gift_card", {"state": "BLOCKED"}, mine["card"]),
                  ("replace_gift_card", KOHLS_CARD, mine["card"]), ("delete_gift_card", ..., mine["card"]),
                  ("list_gift_card_activities", None, mine["card"]),
                  ("get_product", None, mine["product"]), ("update_product", {"name": "X"}, mine["product"]),
                  ("delete_product", ..., mine["product"])]
        for name, body, path_id in probes:
            status, answer = send(name, other, body if body is not None else ..., path_id=path_id)
            assert status == 404, (name, answer)
        status, answer = send("create_gift_card_activity", other, {"type": "LOAD", "amount": 5, "reason": "x"},
                              path_id=mine["card"], headers={"Idempotency-Key": "a1"})
        assert status == 404, answer
        status, answer = send("checkout_quote", other, {"user_id": "user006",
                                                        "items": [{"product_id": "kohls-dogbed-001"}]})
        assert status == 404, answer
        assert all_items(aws) == before, "a refused request of another program wrote something"

    def test_every_item_a_program_writes_is_under_its_prefix(self, aws):
        wallet(ACME)
        assert pay(ACME, "k-1")[0] == 201
        tenant_items = [i for i in all_items(aws) if not i["PK"].startswith(("APIKEY#", "PROGRAM#", "REWARD#"))]
        assert tenant_items and all(i["PK"].startswith("P#acme#") for i in tenant_items)
        for item in tenant_items:
            for index in ("GSI1PK", "GSI2PK", "GSI3PK", "GSI4PK"):
                assert item.get(index) is None or item[index].startswith("P#acme#"), item


class TestIssuerKeys:
    def test_an_issuer_key_registers_and_changes_only_its_issuers_cards_and_products(self, aws):
        created("create_user", ADMIN, JACK)
        mine = created("create_gift_card", KOHLS_ISSUER, KOHLS_CARD)
        target = created("create_gift_card", ADMIN, TARGET_CARD)
        lamp = created("create_product", ADMIN, LAMP)
        before = all_items(aws)
        refusals = [
            ("create_gift_card", {**TARGET_CARD, "card_id": "target-gc-002"}, None),
            ("create_product", {**LAMP, "product_id": "target-lamp-002"}, None),
            ("update_gift_card", {"state": "BLOCKED"}, target["id"]),
            ("replace_gift_card", {**TARGET_CARD, "state": "BLOCKED"}, target["id"]),
            ("update_gift_card", {"issuer": "Target"}, mine["id"]),    # moving its own card to another issuer
            ("delete_gift_card", ..., target["id"]),
            ("get_gift_card", None, target["id"]),
            ("list_gift_card_activities", None, target["id"]),
            ("update_product", {"price": "1.00"}, lamp["id"]),
            ("replace_product", {**LAMP, "price": "1.00"}, lamp["id"]),
            ("delete_product", ..., lamp["id"]),
        ]
        for name, body, path_id in refusals:
            status, answer = send(name, KOHLS_ISSUER, body if body is not None else ..., path_id=path_id)
            assert status == 403 and answer["error"]["code"] == "forbidden", (name, answer)
        status, answer = send("create_gift_card_activity", KOHLS_ISSUER, {"type": "LOAD", "amount": 5, "reason": "x"},
                              path_id=target["id"], headers={"Idempotency-Key": "t1"})
        assert status == 403, answer
        status, answer = send("list_gift_cards", KOHLS_ISSUER, query={"issuer": "Target"})
        assert status == 403, answer
        assert all_items(aws) == before, "a refused issuer request wrote something"
        # its own: listed alone, blocked and unblocked, loaded
        status, cards = send("list_gift_cards", KOHLS_ISSUER)
        assert status == 200 and [c["card_id"] for c in cards] == ["kohls-gc-001"]
        assert send("update_gift_card", KOHLS_ISSUER, {"state": "BLOCKED"}, path_id=mine["id"])[1]["state"] == "BLOCKED"
        assert send("update_gift_card", KOHLS_ISSUER, {"state": "ACTIVE"}, path_id=mine["id"])[1]["state"] == "ACTIVE"
        status, entry = send("create_gift_card_activity", KOHLS_ISSUER, {"type": "LOAD", "amount": 5, "reason": "x"},
                             path_id=mine["id"], headers={"Idempotency-Key": "k1"})
        assert status == 201 and entry["balance"] == 255

    @pytest.mark.parametrize("scopes", ["wallet:read wallet:write", "checkout", "rewards:read rewards:order"])
    def test_no_wallet_or_checkout_key_can_change_a_balance(self, aws, scopes):
        ids = wallet(ADMIN)
        before = all_items(aws)
        who = key(scopes=scopes, key_id="key_other")
        for name, body, headers in (("update_gift_card", {"balance": 999999}, {}),
                                    ("replace_gift_card", {**KOHLS_CARD, "balance": 999999}, {}),
                                    ("create_gift_card_activity", {"type": "LOAD", "amount": 5, "reason": "x"},
                                     {"Idempotency-Key": "w1"}),
                                    ("create_gift_card", {**KOHLS_CARD, "card_id": "kohls-gc-009"}, {})):
            status, answer = send(name, who, body, path_id=None if name == "create_gift_card" else ids["card"],
                                  headers=headers)
            assert status == 403, (name, answer)
        assert all_items(aws) == before


class TestBalancesMoveOnlyThroughTheLedger:
    def test_put_and_patch_accept_the_stored_balance_and_refuse_any_other(self, aws):
        ids = wallet(ADMIN)
        before = all_items(aws)
        for name, body in (("update_gift_card", {"balance": 999999}),
                           ("replace_gift_card", {**KOHLS_CARD, "balance": 260})):
            status, answer = send(name, ADMIN, body, path_id=ids["card"])
            assert status == 422 and "/activities" in answer["error"]["message"], answer
            assert answer["error"]["fields"][0]["type"] == "balance_not_settable"
        assert all_items(aws) == before
        status, answer = send("replace_gift_card", ADMIN, KOHLS_CARD, path_id=ids["card"])   # the seed's PUT shape
        assert status == 200 and answer["balance"] == 250, answer
        without = {k: v for k, v in KOHLS_CARD.items() if k != "balance"}
        status, answer = send("replace_gift_card", ADMIN, without, path_id=ids["card"])   # left out: kept
        assert status == 200 and answer["balance"] == 250, answer

    def test_a_put_that_leaves_out_state_keeps_a_blocked_card_blocked(self, aws):
        ids = wallet(ADMIN)
        assert send("update_gift_card", ADMIN, {"state": "BLOCKED"}, path_id=ids["card"])[0] == 200
        status, answer = send("replace_gift_card", ADMIN, {**KOHLS_CARD, "expiry_date": "2031-01-31"},
                              path_id=ids["card"])
        assert status == 200 and answer["state"] == "BLOCKED" and answer["expiry_date"] == "2031-01-31", answer
        assert stored(aws, f"P#default#CARD#{ids['card']}", "CARD")["state"] == "BLOCKED"

    def test_an_activity_moves_the_balance_once_per_idempotency_key(self, aws):
        ids = wallet(ADMIN)
        body = {"type": "LOAD", "amount": 25, "reason": "Holiday top-up"}
        status, first = send("create_gift_card_activity", ADMIN, body, path_id=ids["card"],
                             headers={"Idempotency-Key": "load-1"})
        assert status == 201 and first["balance"] == 275 and first["type"] == "LOAD" and first["amount"] == 25
        status, again = send("create_gift_card_activity", ADMIN, body, path_id=ids["card"],
                             headers={"Idempotency-Key": "load-1"})
        assert status == 201 and again == first
        assert stored(aws, f"P#default#CARD#{ids['card']}", "CARD")["balance"] == D(275)
        status, reused = send("create_gift_card_activity", ADMIN, {**body, "amount": 30}, path_id=ids["card"],
                              headers={"Idempotency-Key": "load-1"})
        assert status == 422 and reused["error"]["code"] == "idempotency_key_reused"
        status, missing = send("create_gift_card_activity", ADMIN, body, path_id=ids["card"])
        assert status == 400 and missing["error"]["fields"][0]["field"] == "Idempotency-Key"
        entries = send("list_gift_card_activities", ADMIN, path_id=ids["card"])[1]
        assert [(e["type"], e["amount"], e["balance_after"]) for e in entries] == [("ACTIVATE", 250, 250),
                                                                                   ("LOAD", 25, 275)]
        assert entries[1]["reason"] == "Holiday top-up" and entries[1]["key_id"] == "key_test"

    def test_a_decrement_never_takes_a_balance_below_zero(self, aws):
        ids = wallet(ADMIN)
        before = all_items(aws)
        status, answer = send("create_gift_card_activity", ADMIN, {"type": "ADJUST_DECREMENT", "amount": 250.01,
                                                                   "reason": "x"},
                              path_id=ids["card"], headers={"Idempotency-Key": "dec-1"})
        assert status == 409 and answer["error"]["code"] == "insufficient_funds", answer
        assert all_items(aws) == before
        status, answer = send("create_gift_card_activity", ADMIN, {"type": "ADJUST_DECREMENT", "amount": 250,
                                                                   "reason": "card returned"},
                              path_id=ids["card"], headers={"Idempotency-Key": "dec-2"})
        assert status == 201 and answer["balance"] == 0 and answer["amount"] == -250

    def test_a_crash_after_the_commit_is_replayed_not_applied_twice(self, aws, monkeypatch):
        """Given an activity whose function dies right after its transaction committed, when the client retries
        with the same key, then the stored entry is answered and the balance moved once."""
        from flexigift.logic import adjust_balance

        ids = wallet(ADMIN)
        body = {"type": "ADJUST_INCREMENT", "amount": 10, "reason": "goodwill"}

        def die(**_: Any) -> None:
            raise SystemExit("the execution environment died after the commit")

        with monkeypatch.context() as patched:
            patched.setattr(adjust_balance.metrics, "add_metric", die)
            with pytest.raises(SystemExit):
                send("create_gift_card_activity", ADMIN, body, path_id=ids["card"],
                     headers={"Idempotency-Key": "crash-1"})
        status, answer = send("create_gift_card_activity", ADMIN, body, path_id=ids["card"],
                              headers={"Idempotency-Key": "crash-1"})
        assert status == 201 and answer["balance"] == 260, answer
        assert stored(aws, f"P#default#CARD#{ids['card']}", "CARD")["balance"] == D(260)


class TestACardsIdentity:
    def test_card_id_issuer_and_owner_are_fixed_once_money_moved(self, aws):
        ids = wallet(ADMIN)
        created("create_user", ADMIN, {**JACK, "user_id": "user008", "amazon_id": "amz0008", "email": "other@example.com"})
        status, renamed = send("update_gift_card", ADMIN, {"expiry_date": "2031-12-31"}, path_id=ids["card"])
        assert status == 200
        assert pay(ADMIN, "p-1")[0] == 201
        before = all_items(aws)
        for change in ({"card_id": "kohls-gc-777"}, {"issuer": "Kohl's"}, {"user_id": "user008"}):
            status, answer = send("update_gift_card", ADMIN, change, path_id=ids["card"])
            assert status == 409, (change, answer)
        assert all_items(aws) == before

    def test_a_card_with_a_balance_or_refundable_payments_is_not_deleted(self, aws):
        ids = wallet(ADMIN)
        status, answer = send("delete_gift_card", ADMIN, path_id=ids["card"])
        assert status == 409 and "balance" in answer["error"]["message"]
        status, payment = pay(ADMIN, "p-2", quantity=5)     # spends all 250
        assert status == 201 and stored(aws, f"P#default#CARD#{ids['card']}", "CARD")["balance"] == 0
        status, answer = send("delete_gift_card", ADMIN, path_id=ids["card"])
        assert status == 409 and "refund" in answer["error"]["message"], answer
        status, refund = send("create_refund", ADMIN, {"amount": 250}, path_id=payment["id"],
                              headers={"Idempotency-Key": "r-2"})
        assert status == 201, refund
        assert send("create_gift_card_activity", ADMIN, {"type": "ADJUST_DECREMENT", "amount": 250, "reason": "closed"},
                    path_id=ids["card"], headers={"Idempotency-Key": "d-2"})[0] == 201
        assert send("delete_gift_card", ADMIN, path_id=ids["card"])[0] == 204

    def test_a_refund_without_an_idempotency_key_is_400_and_refunds_nothing(self, aws):
        wallet(ADMIN)
        status, payment = pay(ADMIN, "p-3")
        before = all_items(aws)
        status, answer = send("create_refund", ADMIN, {"amount": 10}, path_id=payment["id"])
        assert status == 400 and answer["error"]["fields"][0]["field"] == "Idempotency-Key", answer
        assert all_items(aws) == before
