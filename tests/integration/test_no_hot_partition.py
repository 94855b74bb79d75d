"""No partition that every request of a kind shares (issue 14): listings sharded and merged in order, ids
reserved in blocks per execution environment, indexes that a payment's debit does not write, and the
read cache of read-mostly items (products, programs, catalog items)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from bench.capacity import indexes_of, write_costs
from flexigift.store import keys
from flexigift.store.table import IdBlocks, from_attr, id_blocks, read_cache
from local import template
from tests.integration.conftest import TABLE, all_items
from tests.integration.test_checkout import BASKET, DOG_BED, KOHLS_CARD, jack_with_cards, pay, quote
from tests.support import api_event, call

D = Decimal


def _create_users(count: int) -> list[int]:
    numbers = []
    for n in range(count):
        body = {"user_id": f"shard-user-{n}", "amazon_id": f"amz-shard-{n}", "name": f"User {n}",
                "email": f"shard{n}@example.com"}
        status, created, _ = call("create_user", api_event("create_user", body=body))
        assert status == 201, created
        numbers.append(created["id"])
    return numbers


def _raw(aws: Any, pk: str, sk: str) -> dict[str, Any]:
    return aws.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)["Item"]


class TestShardedListings:
    def test_a_type_listing_spreads_over_shards_and_pages_come_back_whole_and_in_id_order(self, aws):
        """Given 20 users (their listing entries in several index partitions), when they are listed 7 a page
        following each page's cursor, then every user comes back once, in id order, and pages are full."""
        numbers = _create_users(20)
        partitions = {i["GSI1PK"] for i in all_items(aws) if i.get("type") == "USER"}
        assert len(partitions) >= 8 and all(p.startswith("P#default#USER#") for p in partitions), partitions
        seen, sizes, cursor = [], [], None
        for _ in range(10):
            query = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            status, page, headers = call("list_users", api_event("list_users", query=query))
            assert status == 200, page
            seen += [u["id"] for u in page]
            sizes.append(len(page))
            link = headers.get("Link")
            if not link:
                break
            cursor = link.split("cursor=")[1].split(">")[0].split("&")[0]
        assert seen == sorted(numbers) and sizes == [7, 7, 6], (seen, sizes)

    def test_a_pages_shard_queries_are_in_flight_together_and_a_failed_one_fails_the_page(self, aws):
        """Given users in several shards and each Query held 50 ms on its way out, when a page is listed, then
        several of its 16 shard Queries were in flight at once (a page costs about one Query's latency, not
        sixteen) and the page is whole and in order; and when one shard's Query fails, the page fails (a 500,
        never a page silently missing a shard's users)."""
        import threading

        from flexigift.aws import dynamodb

        numbers = _create_users(12)
        state = {"in_flight": 0, "most": 0, "fail": False}
        lock = threading.Lock()

        def hold(**_: Any) -> None:
            with lock:
                state["in_flight"] += 1
                state["most"] = max(state["most"], state["in_flight"])
                failing = state["fail"]
            time.sleep(0.05)
            with lock:
                state["in_flight"] -= 1
            if failing:
                raise RuntimeError("one shard's Query failed")

        events = dynamodb().meta.events
        events.register("before-call.dynamodb.Query", hold)
        try:
            status, page, _ = call("list_users", api_event("list_users", query={"limit": "50"}))
            assert status == 200, page
            assert [u["id"] for u in page] == sorted(numbers)
            assert state["most"] >= 8, state  # one after another, it would never exceed 1
            state["fail"] = True
            status, answer, _ = call("list_users", api_event("list_users", query={"limit": "50"}))
            assert status == 500 and answer["error"]["code"] == "internal_error", answer
        finally:
            events.unregister("before-call.dynamodb.Query", hold)

    def test_an_issuers_cards_are_sharded_and_listed_whole_with_the_other_filter_applied(self, aws):
        """Given 12 Kohl's cards of two users, when ?issuer=kohls is listed (and with ?user_id=), then each
        listing holds exactly its cards, in id order, although their issuer entries are in several partitions."""
        _create_users(2)
        numbers = []
        for n in range(12):
            card = {**KOHLS_CARD, "card_id": f"kohls-shard-{n}", "user_id": f"shard-user-{n % 2}"}
            status, body, _ = call("create_gift_card", api_event("create_gift_card", body=card))
            assert status == 201, body
            numbers.append(body["id"])
        issuer_partitions = {i["GSI4PK"] for i in all_items(aws) if i.get("type") == "CARD"}
        assert len(issuer_partitions) >= 6 and all(p.startswith("P#default#CARD#issuer#kohls#") for p in
                                                   issuer_partitions), issuer_partitions
        status, page, _ = call("list_gift_cards", api_event("list_gift_cards", query={"issuer": "KOHLS"}))
        assert status == 200 and [c["id"] for c in page] == numbers, page
        status, page, _ = call("list_gift_cards", api_event("list_gift_cards",
                                                            query={"issuer": "Kohls", "user_id": "shard-user-1"}))
        assert status == 200 and [c["id"] for c in page] == numbers[1::2], page


class TestIdBlocks:
    def test_one_environment_gets_consecutive_ids_with_a_counter_write_per_block(self, aws):
        """Given a fresh table, when one environment registers 7 users, then they are 1..7 and the counter was
        written 3 times (blocks of 1, 2 and 4)."""
        aws.operations.clear()
        numbers = _create_users(7)
        assert numbers == list(range(1, 8))
        assert aws.operations.count("UpdateItem") == 3, aws.operations

    def test_two_environments_get_unique_ids_not_consecutive(self, aws):
        """Given two environments reserving from one counter, then their ids never collide, though each
        environment's are not consecutive with the other's."""
        other = IdBlocks()
        counter = keys.counter_key("default", "USER")
        mine = [id_blocks.next(counter) for _ in range(2)]          # blocks [1], [2, 3]: 1, 2
        theirs = [other.next(counter) for _ in range(2)]             # blocks [4], [5, 6]: 4, 5
        mine += [id_blocks.next(counter), id_blocks.next(counter)]   # 3 from its block, then [7..10]: 7
        assert mine == [1, 2, 3, 7] and theirs == [4, 5]
        assert len(set(mine + theirs)) == 6


class TestADebitWritesNoIndex:
    def test_the_card_a_payment_debits_changes_no_index_entry(self, aws):
        """Given Jack's linked card, when a payment debits it, then the card's item changes (balance,
        version) but no index entry of it would be written: its index keys are the same and no attribute
        the debit changes is projected into any index (template.yaml's projections)."""
        number = jack_with_cards({})[0]
        pk = keys.entity_key("default", "CARD", number)["PK"]
        before = _raw(aws, pk, "CARD")
        status, body, _ = pay()
        assert status == 201, body
        after = _raw(aws, pk, "CARD")
        assert from_attr(after)["balance"] == D(200) and after != before
        costs = write_costs(before, after, indexes_of(template.table_definition()), transactional=True)
        assert [where for where, _, _ in costs] == ["table"], costs


class TestReadCache:
    @pytest.fixture(autouse=True)
    def cache_on(self, aws, monkeypatch):
        """The cache's period is the template's ReadCacheSeconds (5 s by default); these tests make it 30 s."""
        from flexigift.settings import get_settings

        monkeypatch.setenv("READ_CACHE_SECONDS", "30")
        get_settings.cache_clear()
        read_cache._items.clear()
        yield
        read_cache._items.clear()
        get_settings.cache_clear()

    def test_a_product_changed_elsewhere_reaches_checkout_within_the_period(self, aws, monkeypatch):
        """Given a quote (the product now held by this environment), when the price is changed by another
        writer, then this environment quotes the old price until the period ends, then the new one; a change
        made through this environment's own store is seen at once."""
        jack_with_cards({})
        status, first, _ = quote(BASKET)
        assert status == 200 and D(str(first["total"])) == D("50.00"), first
        pk = keys.entity_key("default", "PRODUCT", 1)["PK"]
        aws.update_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": "PRODUCT"}},
                        UpdateExpression="SET price = :p", ExpressionAttributeValues={":p": {"N": "40"}})
        status, cached, _ = quote(BASKET)
        assert D(str(cached["total"])) == D("50.00"), cached
        later = time.monotonic() + 31
        monkeypatch.setattr("flexigift.store.table.time.monotonic", lambda: later)
        status, fresh, _ = quote(BASKET)
        assert D(str(fresh["total"])) == D("40.00"), fresh
        status, body, _ = call("update_product", api_event("update_product", body={"price": "30.00"}, path_id=1))
        assert status == 200, body
        status, mine, _ = quote(BASKET)
        assert D(str(mine["total"])) == D("30.00"), mine

    def test_only_checkout_reads_from_the_cache(self, aws):
        """Given a product held by this environment's cache (a quote read it), when another writer changes its
        price, then the quote still says the old price within the period but GET /products/{id}, the product
        listing and an update read the table: the new price, and the update applies to it."""
        jack_with_cards({})
        assert quote(BASKET)[0] == 200
        pk = keys.entity_key("default", "PRODUCT", 1)["PK"]
        aws.update_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": "PRODUCT"}},
                        UpdateExpression="SET price = :p", ExpressionAttributeValues={":p": {"N": "40"}})
        assert D(str(quote(BASKET)[1]["total"])) == D("50.00")
        status, product, _ = call("get_product", api_event("get_product", path_id=1))
        assert status == 200 and D(str(product["price"])) == D("40"), product
        status, listed, _ = call("list_products", api_event("list_products"))
        assert status == 200 and [D(str(p["price"])) for p in listed if p["id"] == 1] == [D("40")], listed
        status, updated, _ = call("update_product", api_event("update_product", body={"name": "Dog bed XL"},
                                                              path_id=1))
        assert status == 200 and D(str(updated["price"])) == D("40") and updated["name"] == "Dog bed XL", updated

    def test_money_is_never_cached(self, aws):
        """Cards, user guards and Idempotency-Key claims are always read from the table."""
        jack_with_cards({}, products=(DOG_BED,))
        quote(BASKET)
        held = {slot[1] for slot in read_cache._items}
        assert held and all("PRODUCT#" in pk for pk in held), held

    def test_a_missing_program_is_remembered_but_a_missing_product_is_asked_for_again(self, aws):
        """The default program needs no item, so every reward order would read that missing item: its absence
        is kept (no key of another program exists before the program). A product created elsewhere must be
        seen at once, so a missing product is read again."""
        from flexigift.store.table import batch_get

        program = keys.program_key("default")
        product_guard = keys.unique_key("default", "PRODUCT", "not-yet")
        aws.operations.clear()
        assert batch_get([program, product_guard], cached=True) == {}
        assert batch_get([program, product_guard], cached=True) == {}
        assert aws.operations == ["BatchGetItem", "BatchGetItem"]
        aws.operations.clear()
        assert batch_get([program], cached=True) == {}
        assert aws.operations == []  # answered from the cache: no request at all
        assert batch_get([program]) == {} and aws.operations == ["BatchGetItem"]  # a read that does not ask for it
