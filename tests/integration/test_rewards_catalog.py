"""The rewards catalog and its scheduled refresh, through the handlers, against moto (S3 + DynamoDB).
Each test checks what is stored, not only what is answered."""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import stored
from tests.rewards_support import SEED_LOWES, entry, feed_bytes, sample_feed, without
from tests.support import FakeContext, api_event, call, handler, load_event

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def refresh() -> dict:
    return handler("refresh_rewards_catalog")(load_event("refresh_rewards_catalog"), FakeContext())


def catalog(country: str | None = None, **query: str) -> tuple[int, dict]:
    params = {**({"country": country} if country is not None else {}), **query}
    status, body, _ = call("get_rewards_catalog", api_event("get_rewards_catalog", query=params))
    return status, body


def ids(body: dict) -> list[int]:
    return [item["rewards_id"] for item in body["catalog"]]


def writes_during(aws, action) -> list[str]:
    before = len(aws.operations)
    action()
    return [op for op in aws.operations[before:] if op in WRITES]


class TestCatalog:
    def test_catalog_answers_the_seed_shape_with_the_seed_item_verbatim(self, aws, rewards):
        """Given the sample feed loaded, when GET /rewards/catalog, then the answer is the seed's envelope
        and Lowe's is the seed's item field for field, JSON type for JSON type."""
        refresh()
        status, body = catalog(None)
        assert status == 200
        assert set(body) == {"status", "request_id", "catalog"} and body["status"] == "success"
        assert body["request_id"] == load_event("get_rewards_catalog")["requestContext"]["requestId"]
        lowes = next(item for item in body["catalog"] if item["rewards_id"] == 27234)
        assert lowes == {**SEED_LOWES, "issuer": "Lowes"}   # the seed's item, plus whose products its card buys
        for item in body["catalog"]:
            assert list(item) == [*SEED_LOWES, "issuer"]  # the seed's names in its order, then the issuer
            for name, value in SEED_LOWES.items():
                assert type(item[name]) is type(value), (item["rewards_id"], name)

    def test_default_country_is_us_and_only_available_items_are_listed(self, aws, rewards):
        """Given US items and an unavailable US item in the feed, when the catalog is read without a
        country, then only the available US items are listed, in rewards_id order, from one index Query."""
        refresh()
        us_available = sorted(e["rewards_id"] for e in sample_feed()["rewards"]
                              if e["country"] == "US" and e.get("available", True))
        status, body = catalog(None)
        assert status == 200 and ids(body) == us_available
        assert 27399 not in ids(body) and stored(aws, "REWARD#27399", "REWARD")["available"] is False
        assert "Query" in aws.operations

    def test_country_filter_is_case_insensitive_and_validated(self, aws, rewards):
        refresh()
        status, body = catalog("gb")
        assert status == 200 and body["catalog"] and {i["currency"] for i in body["catalog"]} == {"GBP"}
        status, body = catalog("ZZ")
        assert status == 200 and body["catalog"] == []
        for bad in ("USA", "1A", "u"):
            status, body = catalog(bad)
            assert status == 422 and body["error"]["fields"][0]["field"] == "country", bad
        status, body = catalog(None, colour="red")
        assert status == 400 and body["error"]["code"] == "unsupported_filter"

    def test_catalog_needs_the_rewards_read_scope(self, aws, rewards):
        status, body, _ = call("get_rewards_catalog", api_event("get_rewards_catalog", scopes="wallet:read"))
        assert status == 403 and "rewards:read" in body["error"]["message"]


class TestRefresh:
    def test_first_run_creates_every_valid_entry(self, aws, rewards):
        report = refresh()
        feed = sample_feed()
        assert report["applied"] is True and report["rejected"] == []
        assert report["created"] == len(feed["rewards"]) and report["updated"] == 0
        item = stored(aws, "REWARD#27234", "REWARD")
        assert item["available"] is True and item["GSI2PK"] == "REWARD#country#US" and item["content_hash"]

    def test_a_second_run_of_the_same_feed_writes_nothing(self, aws, rewards):
        """Given the catalog loaded, when the same feed is applied again, then no item is written."""
        refresh()
        report = {}
        written = writes_during(aws, lambda: report.update(refresh()))
        assert written == []
        assert report["unchanged"] == len(sample_feed()["rewards"]) and report["created"] == report["updated"] == 0

    def test_changed_items_are_rewritten_and_vanished_ones_marked_unavailable(self, aws, rewards):
        """Given the catalog loaded, when the feed renames one item and drops another, then exactly those
        two are written: the renamed one updated, the dropped one kept but unavailable (not deleted)."""
        refresh()
        feed = without(sample_feed(), 27240)
        entry(feed, 27263)["rewards_name"] = "The Home Depot Gift Card"
        rewards.upload_feed(feed_bytes(feed))
        report = {}
        written = writes_during(aws, lambda: report.update(refresh()))
        assert len(written) == 2
        assert report["updated"] == 1 and report["marked_unavailable"] == 1 and report["created"] == 0
        assert stored(aws, "REWARD#27263", "REWARD")["rewards_name"] == "The Home Depot Gift Card"
        gone = stored(aws, "REWARD#27240", "REWARD")
        assert gone is not None and gone["available"] is False and "GSI2PK" not in gone
        _, body = catalog("US")
        assert 27240 not in ids(body) and 27263 in ids(body)

    def test_an_item_that_comes_back_is_available_again(self, aws, rewards):
        refresh()
        rewards.upload_feed(feed_bytes(without(sample_feed(), 27240)))
        refresh()
        rewards.upload_feed(feed_bytes(sample_feed()))
        report = refresh()
        assert report["updated"] == 1
        _, body = catalog("US")
        assert 27240 in ids(body)

    @pytest.mark.parametrize("broken", [b"{not json", b"", b'{"rewards": "all of them"}', b'{"rewards": []}',
                                        b"[1, 2, 3]", b'{"rewards": [{"rewards_id": 27234}]}'])
    def test_a_broken_feed_changes_nothing(self, aws, rewards, broken):
        """Given a live catalog, when the feed is unparseable, empty or has no valid entry, then the
        refresh reports it rejected and writes nothing: the catalog answers exactly as before."""
        refresh()
        _, before = catalog("US")
        rewards.upload_feed(broken)
        report = {}
        written = writes_during(aws, lambda: report.update(refresh()))
        assert report["applied"] is False and report["reason"]
        assert written == []
        _, after = catalog("US")
        assert after["catalog"] == before["catalog"] and len(after["catalog"]) > 10

    def test_invalid_entries_are_skipped_reported_and_leave_their_live_item_alone(self, aws, rewards):
        """Given Lowe's live, when the feed lists it with min_value above max_value and lists a new item
        with no currency, then both are reported, Lowe's stays live and unchanged, the rest applies."""
        refresh()
        before = stored(aws, "REWARD#27234", "REWARD")
        feed = sample_feed()
        entry(feed, 27234)["min_value"] = 5000
        broken_new = copy.deepcopy(entry(feed, 27240))
        broken_new.update(rewards_id=99001)
        del broken_new["currency"]
        feed["rewards"].append(broken_new)
        entry(feed, 27251)["terms"] = "New terms."
        rewards.upload_feed(feed_bytes(feed))
        report = refresh()
        rejected = {r["rewards_id"]: r["errors"] for r in report["rejected"]}
        assert set(rejected) == {27234, 99001}
        assert any("min_value" in e for e in rejected[27234]) and any("currency" in e for e in rejected[99001])
        assert report["updated"] == 1 and report["marked_unavailable"] == 0
        assert stored(aws, "REWARD#27234", "REWARD") == before
        assert stored(aws, "REWARD#99001", "REWARD") is None
        _, body = catalog("US")
        assert 27234 in ids(body)

    def test_a_duplicate_rewards_id_keeps_the_first_entry(self, aws, rewards):
        feed = sample_feed()
        duplicate = {**entry(feed, 27234), "rewards_name": "Impostor"}
        feed["rewards"].append(duplicate)
        rewards.upload_feed(feed_bytes(feed))
        report = refresh()
        assert [r["rewards_id"] for r in report["rejected"]] == [27234]
        assert stored(aws, "REWARD#27234", "REWARD")["rewards_name"] == SEED_LOWES["rewards_name"]

    def test_a_missing_feed_object_fails_the_run_and_changes_nothing(self, aws, rewards):
        refresh()
        rewards.s3.delete_object(Bucket=rewards.bucket, Key=rewards.feed_key)
        with pytest.raises(ClientError):
            refresh()
        _, body = catalog("US")
        assert 27234 in ids(body)

    def test_the_sample_feed_is_rich_enough(self):
        """The shipped feed: 20+ brands, several countries and currencies, both value types, the seed's
        Lowe's item verbatim and a 27222 that accepts an amount of 1."""
        feed = sample_feed()["rewards"]
        assert len({e["rewards_name"] for e in feed}) >= 20
        assert len({e["country"] for e in feed}) >= 4 and len({e["currency"] for e in feed}) >= 4
        assert {e["value_type"] for e in feed} == {"open_value", "fixed_value"}
        assert {k: v for k, v in entry({"rewards": feed}, 27234).items() if k not in ("country", "issuer")} == SEED_LOWES
        assert entry({"rewards": feed}, 27234)["issuer"] == "Lowes"
        amazon = entry({"rewards": feed}, 27222)
        assert amazon["value_type"] == "open_value" and amazon["min_value"] <= 1 <= amazon["max_value"]
        assert json.loads(json.dumps(feed)) == feed
