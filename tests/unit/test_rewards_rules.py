"""The rewards' pure rules, with no network: codes, delivery methods, amounts against catalog items,
expiry dates, feed validation and the reward email."""

from __future__ import annotations

import copy
import json
import re
from datetime import date

import pytest

from flexigift.delivery.reward_email import render_reward_email
from flexigift.errors import Conflict, Forbidden, NotFound, ValidationFailed
from flexigift.logic import order_rules as rules
from flexigift.logic.refresh_catalog import FeedRejected, content_hash, validate_feed
from flexigift.models.rewards import DeliveryMessage, FeedEntry, OrderRequest
from flexigift.shapes import ValidationError
from tests.rewards_support import SEED_LOWES, entry, feed_bytes, sample_feed

LOWES = {**SEED_LOWES, "country": "US", "available": True}
STARBUCKS = {**LOWES, "rewards_id": 27251, "value_type": "fixed_value", "min_value": 5, "max_value": 50,
             "denominations": "5,10,25,50"}


class TestCodes:
    def test_codes_use_only_the_unambiguous_alphabet_in_four_groups_of_four(self):
        """Given 2,000 new codes, then each is XXXX-XXXX-XXXX-XXXX over an alphabet without 0/O/1/I/L."""
        assert not set("0O1IL") & set(rules.CODE_ALPHABET) and len(set(rules.CODE_ALPHABET)) == 31
        for _ in range(2000):
            code = rules.new_code()
            assert len(code) == 19 and rules.CODE_PATTERN.fullmatch(code), code
            assert set(code.replace("-", "")) <= set(rules.CODE_ALPHABET)

    def test_codes_are_unique_and_use_the_whole_alphabet(self):
        codes = [rules.new_code() for _ in range(20_000)]
        assert len(set(codes)) == len(codes)
        assert set("".join(codes).replace("-", "")) == set(rules.CODE_ALPHABET)

    def test_pins_are_four_digits_including_leading_zeros(self):
        pins = [rules.new_pin() for _ in range(5000)]
        assert all(re.fullmatch(r"\d{4}", p) for p in pins)
        assert any(p.startswith("0") for p in pins) and len(set(pins)) > 1000

    def test_order_ids_match_what_the_queue_message_accepts(self):
        order_id = rules.new_order_id()
        assert DeliveryMessage(program_id="default", order_id=order_id, delivery_round=1).order_id == order_id
        with pytest.raises(ValidationError):
            DeliveryMessage(program_id="default", order_id="ro_x", delivery_round=1)
        with pytest.raises(ValidationError):
            DeliveryMessage.model_validate({"program_id": "default", "order_id": order_id, "delivery_round": 1,
                                            "code": "X"})
        with pytest.raises(ValidationError):  # the worker builds the order's key from its program: required
            DeliveryMessage.model_validate({"order_id": order_id, "delivery_round": 1})
        with pytest.raises(ValidationError):  # a program id never holds '#' (keys.tenant)
            DeliveryMessage(program_id="a#b", order_id=order_id, delivery_round=1)

    def test_last4_is_the_codes_tail(self):
        assert rules.code_last4("ABCD-EFGH-JKMN-PQRS") == "PQRS"


class TestDeliveryMethod:
    @pytest.mark.parametrize("requested, allowed, has_email, expected", [
        (None, {1, 2}, True, 2),     # the seed: defaults to 2 ...
        (None, {1, 2}, False, 1),    # ... but with no address to send to, the answer carries the code
        (None, {1}, True, 1),
        (None, {2}, False, 2),       # email only: 2, and the missing address is then refused
        (1, {1, 2}, True, 1),
        (2, {2}, True, 2),
    ])
    def test_the_method_follows_the_request_and_the_program(self, requested, allowed, has_email, expected):
        assert rules.choose_delivery_method(requested, allowed, "p", has_email) == expected

    @pytest.mark.parametrize("requested, allowed", [(2, {1}), (1, {2}), (None, set())])
    def test_a_method_the_program_does_not_allow_is_forbidden_with_a_clear_message(self, requested, allowed):
        with pytest.raises(Forbidden) as raised:
            rules.choose_delivery_method(requested, allowed, "acme", True)
        assert "acme" in raised.value.message

    def test_email_delivery_needs_an_address(self):
        with pytest.raises(ValidationFailed) as raised:
            rules.require_email(rules.DeliveryMethod.EMAIL, None)
        assert raised.value.fields[0]["field"] == "delivery_email"
        rules.require_email(rules.DeliveryMethod.API, None)


class TestAmounts:
    @pytest.mark.parametrize("item, amount, ok", [
        (LOWES, 5, True), (LOWES, 2000, True), (LOWES, 4, False), (LOWES, 2001, False), (LOWES, 7, True),
        (STARBUCKS, 10, True), (STARBUCKS, 50, True), (STARBUCKS, 7, False), (STARBUCKS, 20, False),
    ])
    def test_open_values_are_a_range_and_fixed_values_a_list(self, item, amount, ok):
        body = OrderRequest(reward_id=item["rewards_id"], amount=amount)
        if ok:
            rules.check_against_item(body, item)
        else:
            with pytest.raises(Conflict) as raised:  # not what the catalog's item offers now: 409
                rules.check_against_item(body, item)
            assert raised.value.fields[0]["field"] == "amount"

    def test_missing_and_unavailable_items_are_refused_on_reward_id(self):
        body = OrderRequest(reward_id=27234, amount=10)
        for item, refusal in ((None, NotFound), ({**LOWES, "available": False}, Conflict)):
            with pytest.raises(refusal) as raised:
                rules.check_against_item(body, item)
            assert raised.value.fields[0]["field"] == "reward_id"

    @pytest.mark.parametrize("body", [
        {"reward_id": 1, "amount": 0}, {"reward_id": 1, "amount": "5"}, {"reward_id": 1, "amount": 1.5},
        {"reward_id": 1, "amount": True}, {"reward_id": 0, "amount": 5}, {"reward_id": 1, "amount": 5, "x": 1},
        {"reward_id": 1, "amount": 5, "delivery_method": 0}, {"reward_id": 1, "amount": 5, "delivery_email": "x"},
    ])
    def test_order_requests_are_strict(self, body):
        with pytest.raises(ValidationError):
            OrderRequest.model_validate(body)


class TestValidTill:
    @pytest.mark.parametrize("expiration, today, expected", [
        ("24 Months", date(2026, 11, 22), date(2028, 11, 22)),
        ("1 Month", date(2026, 1, 31), date(2026, 2, 28)),      # no 31 February: the month's last day
        ("1 Month", date(2027, 12, 31), date(2028, 1, 31)),
        ("1 Year", date(2028, 2, 29), date(2029, 2, 28)),
        ("10 Years", date(2026, 11, 22), date(2036, 11, 22)),
        ("90 Days", date(2026, 11, 22), date(2027, 2, 20)),
        ("2 Weeks", date(2026, 12, 25), date(2027, 1, 8)),
    ])
    def test_expiration_periods(self, expiration, today, expected):
        assert rules.valid_till(expiration, today) == expected

    def test_an_unknown_period_is_an_error(self):
        with pytest.raises(ValueError):
            rules.valid_till("forever", date(2026, 1, 1))


class TestFeedEntries:
    def test_the_seed_item_is_a_valid_entry(self):
        assert FeedEntry.model_validate(LOWES).model_dump(mode="json", exclude={"available", "issuer"}) == {
            **SEED_LOWES, "country": "US"}

    @pytest.mark.parametrize("change, field", [
        ({"min_value": 3000}, "min_value must not exceed"),
        ({"value_type": "fixed_value", "denominations": ""}, "at least one denomination"),
        ({"denominations": "10,,25"}, "denominations"),
        ({"denominations": "1,25"}, "outside"),
        ({"currency": "usd"}, "currency"),
        ({"country": "USA"}, "country"),
        ({"image": "http://example.com/x.jpg"}, "image"),
        ({"expiration": "forever"}, "expiration"),
        ({"rewards_id": "27234"}, "rewards_id"),
        ({"max_value": 10.5}, "max_value"),
        ({"rewards_name": ""}, "rewards_name"),
        ({"delivery_type": "postal"}, "delivery_type"),
        ({"terms": "bad \x00 byte"}, "terms"),
    ])
    def test_invalid_entries_are_refused_naming_the_problem(self, change, field):
        with pytest.raises(ValidationError) as raised:
            FeedEntry.model_validate({**LOWES, **change})
        assert field in str(raised.value)

    def test_extra_supplier_fields_are_ignored(self):
        assert not hasattr(FeedEntry.model_validate({**LOWES, "supplier_sku": "X1"}), "supplier_sku")


class TestFeeds:
    def test_the_sample_feed_is_valid_throughout(self):
        valid, rejected, count = validate_feed(feed_bytes(sample_feed()))
        assert rejected == [] and len(valid) == count >= 20

    @pytest.mark.parametrize("body", [b"", b"{", b"null", b"42", b'{"items": []}', b'{"rewards": {}}',
                                      b'{"rewards": []}', b'{"rewards": [1, "two", null]}'])
    def test_unusable_feeds_are_rejected_whole(self, body):
        with pytest.raises(FeedRejected):
            validate_feed(body)

    def test_a_bare_array_is_accepted_and_bad_entries_are_reported_by_position(self):
        feed = sample_feed()["rewards"]
        broken = copy.deepcopy(feed[3])
        broken["currency"] = "dollars"
        valid, rejected, count = validate_feed(json.dumps([*feed, broken, "junk"]).encode())
        assert len(valid) == len(feed) and count == len(feed) + 2
        assert [(r.index, r.rewards_id) for r in rejected] == [(len(feed), broken["rewards_id"]), (len(feed) + 1, None)]
        assert any(e.startswith("currency") for e in rejected[0].errors)

    def test_the_content_hash_ignores_key_order_but_not_content(self):
        a = entry(sample_feed(), 27234)
        reordered = dict(reversed(list(a.items())))
        assert content_hash(a) == content_hash(reordered)
        assert content_hash(a) != content_hash({**a, "terms": a["terms"] + "."})


class TestRewardEmail:
    ORDER = {"order_id": "ro_0123456789abcdef0123", "rewards_name": "Lowes eGift Voucher", "amount": 25,
             "currency": "USD", "valid_till": "2028-11-22"}

    def test_text_and_html_carry_brand_amount_code_pin_validity_and_instructions(self):
        rendered = render_reward_email(self.ORDER, LOWES, "ABCD-EFGH-JKMN-PQRS", "0123")
        assert rendered.subject == "Your Lowes eGift Voucher reward: 25 USD"
        for body in (rendered.text, rendered.html):
            for expected in ("Lowes eGift Voucher", "25 USD", "ABCD-EFGH-JKMN-PQRS", "0123", "2028-11-22",
                             "provide gift card number and PIN"):
                assert expected in body, expected

    def test_catalog_text_is_escaped_in_the_html(self):
        hostile = {**LOWES, "instructions": "<script>alert(1)</script>"}
        rendered = render_reward_email({**self.ORDER, "rewards_name": "A & <b>B</b>"}, hostile, "C", "1")
        assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
        assert "A &amp; &lt;b&gt;B&lt;/b&gt;" in rendered.html and "<script>" in rendered.text
