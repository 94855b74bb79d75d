"""The bench's pure helpers (percentiles, the results table). The bench itself is not a test: nothing
here times anything."""

import pytest

import bench.__main__  # noqa: F401 - the entry point imports without running anything
from bench import cold_start, requests_per_route
from bench.report import Figure, format_table, median, percentile


def test_percentile_interpolates_between_closest_ranks():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert median(values) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 99) == pytest.approx(49.6)
    assert median([7.0]) == 7.0


def test_percentile_refuses_no_values_and_out_of_range():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_the_table_puts_each_figure_beside_its_target_and_verdict():
    table = format_table([
        Figure("a", "cold start get_user", "500.0 ms = 2.40x", "<= 1.3x", False),
        Figure("c", "warm get_user", "1.10x", "<= 1.2x", True, "median of 200"),
        Figure("d", "local stack", "65 req/s", "(figures only)", None),
    ])
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "value", "target", "verdict", "note"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split()[-4:] == ["<=", "1.3x", "NOT", "MET"]
    assert lines[3].split()[-6:] == ["<=", "1.2x", "met", "median", "of", "200"]
    assert lines[4].rstrip().endswith("(figures only)")  # no target: no verdict
    starts = {line.index(value) for line, value in zip(lines[2:], ["500.0 ms", "1.10x", "65 req/s"], strict=True)}
    assert len(starts) == 1  # the value column is aligned


def test_the_cost_of_an_operation_includes_the_indexers_chunk_writes_for_its_events():
    """Given the same run's chunks, then each event costs its share of them: the chunk WCU of all listings per
    payment over the events per payment, and one indexer invocation per stream batch over its events."""
    from collections import Counter
    from decimal import Decimal

    from bench import scale_model

    events = Counter({("default", "payment.captured"): 100, ("default", "gift_card.balance_changed"): 200})
    chunks = scale_model.event_chunks(events, 100, Decimal(1800))
    wcu_per_event, invocations_per_event = scale_model._indexer_per_event(chunks, events, 100, Decimal(1800))
    assert wcu_per_event == pytest.approx(sum(c.chunks_per_payment * c.wcu_per_chunk for c in chunks) / 3)
    assert 0 < wcu_per_event < 0.2                  # a chunk of ~167 ids, ~5 WCU, in 3 listings: far under 1
    assert invocations_per_event == pytest.approx(1 / 167, rel=0.01)
    assert scale_model._indexer_per_event([], Counter(), 100, 0) == (0.0, 0.0)


def test_expected_minimum_requests_follow_the_access_pattern():
    assert requests_per_route.expected_calls("get_user", "GET") == 1
    assert requests_per_route.expected_calls("update_user", "PATCH") == 1
    # an issuer key's PATCH of a product reads the stored issuer first; a card's state change writes its event
    assert requests_per_route.expected_calls("update_product", "PATCH") == 2
    assert requests_per_route.expected_calls("update_gift_card", "PATCH") == 2
    assert requests_per_route.expected_calls("create_user", "POST") == 2   # + the integer id counter
    # natural ids resolve through their guards: two dependent BatchGetItem, then the payment's transaction
    assert requests_per_route.expected_calls("checkout_quote", "POST") == 2
    assert requests_per_route.expected_calls("create_payment", "POST") == 3
    assert "BatchGetItem" in requests_per_route.target_text("checkout_quote", "POST")
    assert cold_start.TARGET == 1.3


def test_a_replayed_payment_is_a_new_payment_on_the_cards_current_version():
    """Given a recorded payment transaction (card version 2, its ledger entry 3), when bench d rewrites it for a
    replay that read version 7 and drew new ids, then the card's condition names version 7, the ledger entry is
    the 8th, every recorded id is replaced and the recorded call is left as it was."""
    from bench.local_stack import _renamed, _with_version

    recorded = {"TransactItems": [
        {"Put": {"Item": {"PK": {"S": "P#default#IDEMPOTENCY#payment#key-1"}, "SK": {"S": "IDEMPOTENCY"}, "payment_id": {"S": "pay_" + "a" * 24}}}},
        {"Update": {"Key": {"PK": {"S": "P#default#CARD#1"}, "SK": {"S": "CARD"}},
                    "ExpressionAttributeValues": {":version": {"N": "2"}, ":one": {"N": "1"}}}},
        {"Put": {"Item": {"PK": {"S": "P#default#CARD#1"}, "SK": {"S": "ACTIVITY#000000000003"},
                          "sequence": {"N": "3"}, "reference": {"S": "pay_" + "a" * 24}}}}],
        "ClientRequestToken": "old-token"}
    names = {"key-1": "key-2", "pay_" + "a" * 24: "pay_" + "b" * 24}
    replay = _with_version(_renamed(recorded, names), 7)
    assert "key-1" not in str(replay) and "pay_" + "a" * 24 not in str(replay)
    assert replay["TransactItems"][1]["Update"]["ExpressionAttributeValues"][":version"] == {"N": "7"}
    entry = replay["TransactItems"][2]["Put"]["Item"]
    assert entry["SK"] == {"S": "ACTIVITY#000000000008"} and entry["sequence"] == {"N": "8"}
    assert replay["ClientRequestToken"] != "old-token"
    assert recorded["TransactItems"][1]["Update"]["ExpressionAttributeValues"][":version"] == {"N": "2"}


def test_the_scale_model_charges_event_chunks_at_scale_not_at_the_samples_batches():
    """Given a run's events (3 a payment, 18 table WCU a payment), then a stream shard carries 3 x 1,000 / 18 =
    167 events a second, which the 1 s window gathers into one batch: the program's listing takes one chunk per
    batch with that many ids, a type with a third of the events about one chunk per batch with a third of them;
    each chunk is charged the WCU of the item store.events builds; fewer table WCU a payment means fewer stream
    shards and larger chunks, capped at BatchSize."""
    from collections import Counter
    from decimal import Decimal

    from bench import scale_model
    from flexigift.store import keys

    batch, window = scale_model.indexer_settings()
    assert (batch, window) == (1000, 1.0)
    events = Counter({("default", "payment.captured"): 100, ("default", "gift_card.balance_changed"): 200})
    batches, per_batch = scale_model.stream_batches_per_payment(3.0, 18.0)
    assert per_batch == pytest.approx(1000 * 3 / 18) and batches == pytest.approx(18 / 1000)
    chunks = {c.event_type: c for c in scale_model.event_chunks(events, 100, Decimal(1800))}
    whole = chunks[None]
    assert whole.partition == f"P#default#EVENTS#<any of {keys.EVENT_LIST_SHARDS} shards>"
    assert whole.events_per_chunk == pytest.approx(167, abs=1)
    assert whole.wcu_per_chunk == scale_model.chunk_write_units("default", None, 167) >= 5
    assert chunks["payment.captured"].events_per_chunk == pytest.approx(167 / 3, rel=0.01)
    assert whole.wcu_per_payment_per_shard == pytest.approx(batches * whole.wcu_per_chunk / keys.EVENT_LIST_SHARDS)
    _, few_shards = scale_model.stream_batches_per_payment(3.0, 1.0)
    assert few_shards == 1000                                   # a full batch: BatchSize
    assert scale_model.chunk_write_units("default", None, 1000) < 400   # far under an item's 400 KB


def test_a_partition_of_one_customer_and_of_no_one_leaves_the_customers_part_to_them():
    """Given the units charged on a partition for each customer (None: an operation for no one, a listing), then
    only a partition touched by exactly one customer and by no-one operations has a customer's part."""
    from collections import Counter
    from decimal import Decimal

    from bench.scale_model import customer_part

    assert customer_part(Counter({"u1": Decimal(11), None: Decimal(1)})) == ("u1", Decimal(11))
    assert customer_part(Counter({"u1": Decimal(11)})) == (None, 0)                 # the customer's own partition
    assert customer_part(Counter({"u1": 3, "u2": 4, None: 1})) == (None, 0)       # shared by customers
    assert customer_part(Counter({None: 5})) == (None, 0) and customer_part(None) == (None, 0)
