"""Checkout's pure parts: which cards pay for which items (no I/O), and the request models' rules."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from flexigift.errors import BadRequest, ValidationFailed
from flexigift.logic.allocation import CardFunds, Line, allocate, spending_order, unusable_reason
from flexigift.logic.idempotency import check_idempotency_key
from flexigift.models.checkout import PaymentCreate, QuoteRequest, RefundCreate
from flexigift.shapes import ValidationError

TODAY = date(2025, 6, 15)
D = Decimal


def card(card_id: str, balance: str, expiry: str = "2030-12-31", issuer: str = "Kohls", state: str = "ACTIVE",
         number: int = 1) -> CardFunds:
    return CardFunds(card_id=card_id, gift_card_id=number, issuer=issuer,
                     balance=D(balance), expiry_date=expiry, state=state)


def line(amount: str, issuer: str = "Kohls", product_id: str = "kohls-dogbed-001") -> Line:
    return Line(product_id=product_id, eligible_issuer=issuer, amount=D(amount))


def debits(plan) -> dict[str, Decimal]:
    return {d.card.card_id: d.amount for d in plan.debits}


class TestOrder:
    def test_soonest_expiry_is_spent_first(self):
        """Given two Kohls cards, the bigger one expiring sooner, when 60.00 is allocated, then the card that
        expires first is emptied before the other is touched."""
        later, sooner = card("later", "100", "2031-01-01"), card("sooner", "50", "2026-01-01")
        plan = allocate([line("60")], [later, sooner], TODAY)
        assert [d.card.card_id for d in plan.debits] == ["sooner", "later"]
        assert debits(plan) == {"sooner": D("50"), "later": D("10")}

    def test_same_expiry_spends_the_smallest_balance_first(self):
        """Given two cards expiring the same day, when 30.00 is allocated, then the smaller balance goes first."""
        big, small = card("big", "100"), card("small", "20")
        plan = allocate([line("30")], [big, small], TODAY)
        assert [d.card.card_id for d in plan.debits] == ["small", "big"]
        assert debits(plan) == {"small": D("20"), "big": D("10")}

    def test_default_order_is_stable_on_full_ties(self):
        """Given cards equal in expiry and balance, then card_id decides, whatever order they were read in."""
        cards = [card("b", "5"), card("a", "5"), card("c", "5")]
        assert [c.card_id for c in spending_order(cards)] == ["a", "b", "c"]
        assert [c.card_id for c in spending_order(list(reversed(cards)))] == ["a", "b", "c"]

    def test_named_cards_are_spent_in_the_callers_order(self):
        """Given the caller named the later-expiring card first, then it is spent first (no re-sorting)."""
        later, sooner = card("later", "100", "2031-01-01"), card("sooner", "50", "2026-01-01")
        plan = allocate([line("60")], [later, sooner], TODAY, named=True)
        assert [d.card.card_id for d in plan.debits] == ["later"]
        assert debits(plan) == {"later": D("60")}


class TestEligibility:
    def test_only_the_eligible_issuer_pays_compared_case_insensitively(self):
        """Given a Kohls item and cards from KOHLS and Target, then only the KOHLS card pays."""
        plan = allocate([line("50", issuer="Kohls")], [card("t", "500", issuer="Target"),
                                                     card("k", "80", issuer="KOHLS")], TODAY)
        assert debits(plan) == {"k": D("50")}
        assert [c.card_id for c in plan.lines[0].eligible] == ["k"]

    @pytest.mark.parametrize("excluded", [
        card("blocked", "100", state="BLOCKED"),
        card("expired", "100", expiry="2025-06-14"),
        card("empty", "0"),
    ], ids=["blocked", "expired-yesterday", "zero-balance"])
    def test_blocked_expired_and_empty_cards_never_pay(self, excluded):
        """Given a card that is blocked, expired or empty, then it is neither eligible nor debited."""
        plan = allocate([line("10")], [excluded], TODAY)
        assert plan.debits == [] and plan.lines[0].eligible == []
        assert plan.payable == 0 and plan.remainder == D("10")

    def test_a_card_expiring_today_still_pays(self):
        """Given a card whose expiry_date is today, then it can still pay (it expires after today)."""
        plan = allocate([line("10")], [card("today", "20", expiry=TODAY.isoformat())], TODAY)
        assert debits(plan) == {"today": D("10")}

    def test_unusable_reason_names_the_rule(self):
        assert unusable_reason(card("x", "1", state="BLOCKED"), TODAY) == "is BLOCKED"
        assert unusable_reason(card("x", "1", expiry="2020-01-01"), TODAY) == "expired on 2020-01-01"
        assert unusable_reason(card("x", "0"), TODAY) is None


class TestTotals:
    def test_items_of_one_issuer_share_its_cards_without_spending_twice(self):
        """Given two Kohls items of 30.00 and one Kohls card of 50.00, then 50.00 is payable in total
        (30.00 + 20.00), 10.00 remains, and the card ends at 0."""
        plan = allocate([line("30", product_id="a"), line("30", product_id="b")], [card("k", "50")], TODAY)
        assert [lp.paid for lp in plan.lines] == [D("30"), D("20")]
        assert plan.payable == D("50") and plan.remainder == D("10") and plan.total == D("60")
        assert plan.debits[0].balance_after == 0

    def test_items_of_different_issuers_use_their_own_cards(self):
        """Given a Kohls item and a Target item, each paid only by its issuer's card."""
        plan = allocate([line("40", "Kohls", "k-item"), line("15", "Target", "t-item")],
                        [card("k", "25", issuer="Kohls"), card("t", "100", issuer="Target")], TODAY)
        assert plan.lines[0].debits == [("k", D("25"))] and plan.lines[1].debits == [("t", D("15"))]
        assert plan.remainder == D("15")

    def test_cents_are_exact(self):
        """Given amounts with cents, then debits and balances are exact decimals (no float drift)."""
        plan = allocate([line("0.30"), line("0.30", product_id="p2")], [card("a", "0.10"), card("b", "0.45")], TODAY)
        assert debits(plan) == {"a": D("0.10"), "b": D("0.45")}
        assert plan.remainder == D("0.05")
        assert all(d.balance_after == 0 for d in plan.debits)

    def test_random_plans_never_overdraw_and_pay_the_most_possible(self):
        """Given 500 random wallets and baskets, then no card is debited more than its balance, no item is paid
        more than its price, and each issuer pays min(its items' total, its usable cards' total)."""
        rng = random.Random(20250615)
        issuers = ["Kohls", "kohls", "Target", "Macys"]
        for _ in range(500):
            cards = [card(f"c{i}", f"{rng.randint(0, 9000) / 100:.2f}",
                          expiry=f"{rng.choice([2024, 2025, 2026])}-06-{rng.randint(10, 20)}",
                          issuer=rng.choice(issuers), state=rng.choice(["ACTIVE", "ACTIVE", "BLOCKED"]), number=i)
                     for i in range(rng.randint(0, 6))]
            lines = [line(f"{rng.randint(1, 9000) / 100:.2f}", rng.choice(issuers), f"p{i}")
                     for i in range(rng.randint(1, 4))]
            plan = allocate(lines, cards, TODAY)
            for debit in plan.debits:
                assert D(0) < debit.amount <= debit.card.balance and debit.balance_after >= 0
            for lp in plan.lines:
                assert D(0) <= lp.paid <= lp.line.amount
                assert all(c.issuer.casefold() == lp.line.eligible_issuer.casefold() for c in lp.eligible)
            due, funds = defaultdict(Decimal), defaultdict(Decimal)
            for ln in lines:
                due[ln.eligible_issuer.casefold()] += ln.amount
            for c in cards:
                if unusable_reason(c, TODAY) is None:
                    funds[c.issuer.casefold()] += c.balance
            assert plan.payable == sum((min(due[i], funds[i]) for i in due), D(0))
            assert plan.payable + plan.remainder == plan.total


class TestRequests:
    BASE = {"user_id": "user006", "items": [{"product_id": "kohls-dogbed-001", "quantity": 1}]}

    @pytest.mark.parametrize("items, field", [
        ([], "items"),
        ([{"product_id": "p", "quantity": 0}], "items.0.quantity"),
        ([{"product_id": "p", "quantity": "2"}], "items.0.quantity"),
        ([{"product_id": "p", "quantity": True}], "items.0.quantity"),
        ([{"product_id": "p", "quantity": D("1.5")}], "items.0.quantity"),
        ([{"product_id": "p"}, {"product_id": "p", "quantity": 2}], "items"),
        ([{"product_id": "p", "price": 1}], "items.0.price"),
    ])
    def test_bad_items_are_refused_naming_the_field(self, items, field):
        with pytest.raises(ValidationError) as error:
            QuoteRequest(**{**self.BASE, "items": items})
        assert field in {".".join(str(p) for p in e["loc"]) for e in error.value.errors()}

    def test_quantity_defaults_to_one_and_allow_remainder_must_be_a_boolean(self):
        assert QuoteRequest(user_id="u", items=[{"product_id": "p"}]).items[0].quantity == 1
        with pytest.raises(ValidationError):
            PaymentCreate(**self.BASE, allow_remainder="yes")
        with pytest.raises(ValidationError):
            PaymentCreate(**self.BASE, cards=["a", "a"])

    @pytest.mark.parametrize("amount, ok", [(D("0.01"), True), ("20.00", True), (0, False), (D("-5"), False),
                                            (D("1.005"), False), (1.5, False)])
    def test_refund_amount_is_positive_money_with_two_places(self, amount, ok):
        if ok:
            assert RefundCreate(amount=amount).amount == D(str(amount))
        else:
            with pytest.raises(ValidationError):
                RefundCreate(amount=amount)

    def test_idempotency_key_is_required_for_payments_and_must_be_visible_ascii(self):
        with pytest.raises(BadRequest):
            check_idempotency_key(None, required=True)
        assert check_idempotency_key(None, required=False) is None
        for bad in ["has space", "x" * 256, "caf\u00e9", "tab\t"]:
            with pytest.raises(ValidationFailed):
                check_idempotency_key(bad, required=True)
        assert check_idempotency_key("7b0e4f2c-1d5a-4c3e-9f8b-2a6d0c1e5f00", required=True)
