"""Property: whatever happens to a wallet, every card's ledger sums to its balance and no balance is negative.

Hypothesis drives random sequences of payments (some replayed with their Idempotency-Key), authorizations and
their captures (whole or part), voids and expiries, refunds, balance activities, blocks and unblocks, unlinks
and relinks, and deletes, through the use cases against moto. After every step it reads each card and its
whole ledger back from the table and checks:
  - the ledger's amounts sum to the stored balance, and its last entry's balance_after is that balance;
  - no balance is negative, and what a card may still get back from refunds (`refundable`) is never negative
    and equals what its captured payments' allocations may still refund;
  - `held` equals the card's open holds: what the payments still authorized hold on it;
  - a refused step (a 4xx domain error) changed nothing.
Each example runs in a program of its own, in a table emptied before it (moto's transactions copy the whole
table, so a table that grew with every example would make the run quadratic).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flexigift.api import Caller
from flexigift.errors import FlexigiftError
from flexigift.logic import adjust_balance, capture, expire_authorizations, gift_cards, pay, products, refund, users
from flexigift.logic import void as void_logic
from flexigift.models.checkout import BalanceActivityCreate, CaptureRequest, PaymentCreate, RefundCreate
from flexigift.models.wallet import GiftCardCreate, GiftCardPatch, ProductCreate, UserCreate, UserPatch
from flexigift.store import checkout as checkout_store
from flexigift.store import keys, ledger, wallet
from flexigift.store.table import batch_get, found_in
from local import template
from tests.integration.conftest import TABLE

D = Decimal
EXAMPLES = int(__import__("os").environ.get("LEDGER_EXAMPLES", "500"))
CARDS = ("kohls-a", "kohls-b", "kohls-c")


def _caller(program_id: str) -> Caller:
    return Caller(key_id="key_property", scopes=frozenset({"admin"}), program_id=program_id)


class WalletMachine(RuleBasedStateMachine):
    """One user with three Kohl's cards, two products; the rules act on them in any order."""

    client: Any = None

    @initialize()
    def open_wallet(self) -> None:
        self.client.delete_table(TableName=TABLE)
        self.client.create_table(TableName=TABLE, **template.table_definition())
        self.program = f"prop-{uuid.uuid4().hex[:12]}"
        self.who = _caller(self.program)
        users.register_user(self.program, UserCreate(user_id="u1", amazon_id="amz1", name="Jack Johnson",
                                                     email="jack@example.com"))
        self.user_number = wallet.get_unique(self.program, wallet.USER, "u1")["ref_id"]
        self.cards: dict[str, int] = {}
        for i, card_id in enumerate(CARDS):
            card = gift_cards.register_card(self.who, GiftCardCreate(
                card_id=card_id, user_id="u1", issuer="Kohls", balance=D(20 * (i + 1)), expiry_date="2031-01-01"))
            self.cards[card_id] = card.id
        users.update_user(self.program, self.user_number, UserPatch(gift_cards=list(CARDS)))
        for product_id, price in (("bed", "35.00"), ("treat", "7.50")):
            products.register_product(self.who, ProductCreate(product_id=product_id, name=product_id,
                                                              price=D(price), eligible_issuer="Kohls"))
        self.payments: list[tuple[str, str, dict[str, Any]]] = []   # (payment id, key, body)
        self.linked = set(CARDS)
        self.deleted: set[str] = set()

    def _snapshot(self) -> dict[str, Any]:
        """Every card as stored (None once deleted), in one BatchGetItem."""
        card_keys = {card_id: keys.entity_key(self.program, wallet.CARD.name, n) for card_id, n in self.cards.items()}
        found = batch_get(list(card_keys.values()))
        return {card_id: wallet.record_of(wallet.CARD, found_in(found, key)) for card_id, key in card_keys.items()}

    def _refused_changes_nothing(self, step: Any) -> None:
        """Run a step; a refusal must be a 4xx domain error and leave every card as the last invariant check
        read it (the state before this step)."""
        try:
            step()
        except FlexigiftError as refused:
            assert refused.status < 500
            assert self._snapshot() == self.last, f"a refused step ({refused.code}) changed a card"

    # --- rules ---------------------------------------------------------------------------------------

    @rule(bed=st.integers(0, 2), treat=st.integers(0, 3), remainder=st.booleans(), authorize=st.booleans())
    def pay(self, bed: int, treat: int, remainder: bool, authorize: bool) -> None:
        items = [{"product_id": p, "quantity": q} for p, q in (("bed", bed), ("treat", treat)) if q]
        if not items:
            return
        body = {"user_id": "u1", "items": items, "allow_remainder": remainder, "capture": not authorize}
        key = uuid.uuid4().hex

        def step() -> None:
            payment, replayed = pay.create_payment(PaymentCreate.model_validate(body), key, "key_property",
                                                        self.program)
            assert not replayed
            self.payments.append((payment.id, key, body))

        self._refused_changes_nothing(step)

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 50))
    def replay_payment(self, pick: int) -> None:
        payment_id, key, body = self.payments[pick % len(self.payments)]
        payment, replayed = pay.create_payment(PaymentCreate.model_validate(body), key, "key_property",
                                                    self.program)
        assert replayed and payment.id == payment_id
        assert self._snapshot() == self.last, "a replayed payment moved money"

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 50), cents=st.one_of(st.none(), st.integers(1, 6000)))
    def refund(self, pick: int, cents: int | None) -> None:
        payment_id = self.payments[pick % len(self.payments)][0]
        body = RefundCreate(amount=None if cents is None else D(cents) / 100)
        self._refused_changes_nothing(
            lambda: refund.refund_payment(payment_id, body, uuid.uuid4().hex, "key_property", self.program))

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 50), cents=st.one_of(st.none(), st.integers(1, 8000)), twice=st.booleans())
    def capture(self, pick: int, cents: int | None, twice: bool) -> None:
        payment_id = self.payments[pick % len(self.payments)][0]
        body = CaptureRequest(amount=None if cents is None else D(cents) / 100)
        key = uuid.uuid4().hex

        def step() -> None:
            first, _ = capture.capture_payment(self.who, payment_id, body, key)
            if twice:   # the same request again is a replay; a new one is refused
                again, replayed = capture.capture_payment(self.who, payment_id, body, key)
                assert replayed and again == first

        self._refused_changes_nothing(step)

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 50))
    def void(self, pick: int) -> None:
        payment_id = self.payments[pick % len(self.payments)][0]
        self._refused_changes_nothing(lambda: void_logic.void_payment(self.who, payment_id, uuid.uuid4().hex))

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 50))
    def expire(self, pick: int) -> None:
        """The authorization's time comes (its expiry moved into the past) and the sweep releases it; a payment
        that is not authorized is left alone."""
        payment_id = self.payments[pick % len(self.payments)][0]
        key = keys.payment_key(self.program, payment_id)
        if checkout_store.payment_record(found_in(batch_get([key]), key))["status"] != "authorized":
            return
        self.client.update_item(TableName=TABLE, Key={"PK": {"S": key["PK"]}, "SK": {"S": key["SK"]}},
                                UpdateExpression="SET hold_expires_epoch = :past",
                                ExpressionAttributeValues={":past": {"N": "1"}})
        assert expire_authorizations.expire_one(self.program, payment_id)
        assert not expire_authorizations.expire_one(self.program, payment_id)   # once

    @rule(card=st.sampled_from(CARDS), kind=st.sampled_from(["LOAD", "ADJUST_INCREMENT", "ADJUST_DECREMENT"]),
          cents=st.integers(1, 5000))
    def activity(self, card: str, kind: str, cents: int) -> None:
        body = BalanceActivityCreate(type=kind, amount=D(cents) / 100, reason="property test")
        key = uuid.uuid4().hex

        def step() -> None:
            first, _ = adjust_balance.record_activity(self.who, self.cards[card], body, key)
            again, replayed = adjust_balance.record_activity(self.who, self.cards[card], body, key)
            assert replayed and again == first, "a replayed activity answered differently"
            stored = wallet.get(self.program, wallet.CARD, self.cards[card])
            assert stored is not None and D(stored[0]["balance"]) == first.balance, "a replay moved money"

        self._refused_changes_nothing(step)

    @rule(card=st.sampled_from(CARDS), state=st.sampled_from(["ACTIVE", "BLOCKED"]))
    def set_state(self, card: str, state: str) -> None:
        self._refused_changes_nothing(
            lambda: gift_cards.update_card(self.who, self.cards[card], GiftCardPatch(state=state)))

    @rule(card=st.sampled_from(CARDS))
    def toggle_link(self, card: str) -> None:
        wanted = (self.linked - {card}) if card in self.linked else (self.linked | {card})
        wanted -= self.deleted

        def step() -> None:
            users.update_user(self.program, self.user_number, UserPatch(gift_cards=sorted(wanted)))
            self.linked = set(wanted)

        self._refused_changes_nothing(step)

    @rule(card=st.sampled_from(CARDS))
    def delete(self, card: str) -> None:
        if card in self.deleted:
            return

        def step() -> None:
            gift_cards.delete_card(self.who, self.cards[card])
            self.deleted.add(card)
            self.linked.discard(card)

        self._refused_changes_nothing(step)

    # --- invariants ------------------------------------------------------------------------------------

    @invariant()
    def ledgers_sum_to_balances(self) -> None:
        if not hasattr(self, "program"):
            return
        refundable: dict[int, Decimal] = {number: D(0) for number in self.cards.values()}
        held: dict[int, Decimal] = {number: D(0) for number in self.cards.values()}
        payment_keys = [keys.payment_key(self.program, payment_id) for payment_id, _, _ in self.payments]
        found_payments = batch_get(payment_keys) if payment_keys else {}
        for key in payment_keys:
            payment = checkout_store.payment_record(found_in(found_payments, key))
            assert payment is not None
            if payment["status"] == "authorized":
                for hold in payment["holds"]:
                    held[int(hold["gift_card_id"])] += D(hold["amount"])
                continue
            for allocation in payment["allocations"]:
                refundable[int(allocation["gift_card_id"])] += D(allocation["amount"]) - D(allocation["refunded"])
        self.last = self._snapshot()
        for card_id, number in self.cards.items():
            stored = self.last[card_id]
            if card_id in self.deleted:
                assert stored is None and refundable[number] == 0 and held[number] == 0
                continue
            assert stored is not None
            card, version = stored
            entries = ledger.all_entries(self.program, number)
            balance = D(card["balance"])
            assert sum((D(e["amount"]) for e in entries), D(0)) == balance, card_id
            assert D(entries[-1]["balance_after"]) == balance and int(entries[-1]["sequence"]) <= version
            assert balance >= 0
            assert D(card.get("refundable", 0)) == refundable[number] >= 0, card_id
            assert D(card.get("held") or 0) == held[number] >= 0, card_id


def test_every_ledger_sums_to_its_balance_through_random_sequences(aws: Any) -> None:
    """Given a wallet, when 500 random sequences of money movements (payments, authorizations, captures,
    voids, expiries, refunds, activities) and card changes run, then after every step each card's ledger sums
    to its balance, `held` is its open holds, nothing is negative, and a refused step changed nothing."""
    run = settings(max_examples=EXAMPLES, stateful_step_count=int(__import__("os").environ.get("LEDGER_STEPS", "5")), deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck), database=None)(WalletMachine)
    WalletMachine.client = aws
    run.TestCase().runTest()
