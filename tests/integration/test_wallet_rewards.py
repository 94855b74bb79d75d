"""A reward paid into a Flexigift wallet (POST /rewards/order, delivery_method 3), through the handlers against
moto: the new card, its ledger, its place in the wallet, exactly once per Idempotency-Key, refused without
an issuer or a user, enabled per program; then the card pays for a Lowe's product through checkout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flexigift import vault
from flexigift.logic.programs import configure_program
from tests.integration import test_rewards_orders as rewards_orders
from tests.integration.conftest import all_items, stored
from tests.integration.test_checkout import JACK, as_issuer, assert_reconciles, pay, register_user
from tests.integration.test_rewards_orders import order, placed
from tests.support import api_event, call

D = Decimal
INTO_WALLET = {"reward_id": 27234, "amount": 25, "delivery_method": 3, "user_id": "user006"}
catalog = rewards_orders.catalog   # the fixture: the table's stream on and the sample feed loaded
SANDER = {"product_id": "lowes-sander-001", "name": "Orbital Sander", "price": "20.00", "eligible_issuer": "Lowes"}


def cards(aws) -> list[dict]:
    return [i for i in all_items(aws) if i.get("type") == "CARD"]


class TestRewardIntoTheWallet:
    def test_the_reward_becomes_a_linked_card_of_the_user_with_the_items_issuer(self, aws, catalog):
        """Given Jack and the Lowe's item (issuer Lowes, 24 months), when a reward of 25 is ordered into his
        wallet, then the answer is the seed's shape, complete, with the new card's id and card_id; the card is
        Lowes, balance 25, expiring on the code's valid_till, linked to Jack (his gift_cards, the guard's
        wallet and card count), opened by an ACTIVATE entry, its code only as the order's ciphertext."""
        user = register_user()
        answer = placed(INTO_WALLET, key="wallet-1")
        assert answer["order_status"] == "complete"
        reward = answer["reward"]
        assert {"reward_id", "reward_code", "reward_pin", "reward_amount", "valid_till", "currency",
                "reward_type", "id", "card_id"} == set(reward)
        (card,) = cards(aws)
        assert card["id"] == reward["id"] and card["card_id"] == reward["card_id"]
        assert card["issuer"] == "Lowes" and card["balance"] == D(25) and card["expiry_date"] == reward["valid_till"]
        assert card["linked"] is True and card["owner_ref"] == user and card["user_id"] == "user006"
        assert vault.unseal(answer["order_id"], bytes(card["code_ciphertext"]))[0] == reward["reward_code"]
        assert reward["reward_code"] not in str(card)
        assert stored(aws, f"P#default#USER#{user}", "USER")["gift_cards"] == [reward["card_id"]]
        guard = stored(aws, "P#default#UNIQUE#USER#user006", "UNIQUE")
        assert guard["wallet_cards"] == {reward["card_id"]: reward["id"]} and guard["card_count"] == 1
        assert [e["activity_type"] for e in assert_reconciles(aws, reward["id"])] == ["ACTIVATE"]
        status, shown, _ = call("get_gift_card", api_event("get_gift_card", path_id=reward["id"]))
        assert status == 200 and shown["issuer"] == "Lowes" and shown["linked"] is True

    def test_a_replay_answers_the_same_card_and_makes_no_second(self, aws, catalog):
        register_user()
        first = placed(INTO_WALLET, key="wallet-2")
        status, again, headers = order(INTO_WALLET, key="wallet-2")
        assert status == 201 and headers["Idempotent-Replayed"] == "true" and again == first
        assert len(cards(aws)) == 1

    def test_the_card_pays_for_a_lowes_product_through_checkout(self, aws, catalog):
        register_user()
        reward = placed(INTO_WALLET, key="wallet-3")["reward"]
        status, _, _ = call("create_product", as_issuer(api_event("create_product", body=SANDER), "Lowes"))
        assert status == 201
        status, paid, _ = pay({"amazon_id": JACK["amazon_id"], "items": [{"product_id": "lowes-sander-001"}]},
                              key="pay-sander")
        assert status == 201 and paid["allocations"][0]["card_id"] == reward["card_id"], paid
        assert stored(aws, f"P#default#CARD#{reward['id']}", "CARD")["balance"] == D(5)
        assert_reconciles(aws, reward["id"])

    @pytest.mark.parametrize("body, field, expected", [
        ({**INTO_WALLET, "user_id": "nobody"}, "user_id", 404),                    # names no registered user
        ({**INTO_WALLET, "reward_id": 27222, "amount": 5}, "reward_id", 409),    # the Amazon.com item names no issuer
    ])
    def test_an_unknown_user_is_404_an_item_without_issuer_409_and_nothing_is_stored(self, aws, catalog, body, field,
                                                                                     expected):
        register_user()
        status, answer, _ = order(body, key="wallet-bad")
        assert status == expected and answer["error"]["fields"][0]["field"] == field, answer
        assert cards(aws) == [] and not [i for i in all_items(aws) if i.get("type") == "REWARD_ORDER"]

    def test_a_program_enables_method_3_as_it_enables_1_and_2(self, aws, catalog):
        register_user(JACK)
        configure_program("default", [1, 2])
        status, answer, _ = order(INTO_WALLET)
        assert status == 403 and "it allows 1 (API response) and 2 (email)" in answer["error"]["message"]
        configure_program("default", [3])
        assert order(INTO_WALLET)[0] == 201

    def test_a_full_wallet_refuses_the_reward_and_orders_nothing(self, aws, catalog):
        user = register_user()
        aws.update_item(TableName="flexigift-test", Key={"PK": {"S": f"P#default#USER#{user}"}, "SK": {"S": "USER"}},
                        UpdateExpression="SET gift_cards = :full",
                        ExpressionAttributeValues={":full": {"L": [{"S": f"c{n}"} for n in range(25)]}})
        status, answer, _ = order(INTO_WALLET, key="wallet-full")
        assert status == 409 and answer["error"]["fields"][0]["type"] == "wallet_unavailable", answer
        assert cards(aws) == [] and not [i for i in all_items(aws) if i.get("type") == "REWARD_ORDER"]
