"""The event indexer (functions/index_events.py, store.events.plan_chunks) without AWS: its chunks keyed by
each batch's first event of a program (and type), so that a retried batch, or its bisected halves, write over
what an earlier try wrote; and its stream event source as template.yaml declares it."""

from __future__ import annotations

import json

from flexigift.store import keys
from flexigift.store.events import plan_chunks
from local import template
from local.rewards_services import filter_patterns


def image(n: int, program: str = "default", event_type: str = "payment.captured") -> dict:
    return {"PK": f"P#{program}#EVENT#evt_{n:024x}", "SK": "EVENT", "type": "EVENT", "id": f"evt_{n:024x}",
            "program_id": program, "event_type": event_type, "created_at": f"2026-12-03T10:00:{n:02d}.000Z",
            "body": "{}", "expires_at": 1766000000 + n}


def apply(table: dict, images: list[dict]) -> None:
    """What BatchWriteItem's unconditional Puts do to the table: each chunk replaces the item at its key."""
    chunks, _ = plan_chunks(images)
    for chunk in chunks:
        table[(chunk["PK"], chunk["SK"])] = chunk


def listed(table: dict, listing: str) -> list[str]:
    return [i for (pk, _), chunk in table.items() if pk.rpartition("#")[0] == listing for i in chunk["events"]]


STREAM = [image(1), image(2, "acme"), image(3, event_type="refund.created"), image(4), image(5, "acme"),
          image(6), image(7, event_type="refund.created"), image(8)]


def test_a_batch_lists_each_event_once_per_listing_newest_first_keyed_by_its_first_event():
    table: dict = {}
    apply(table, STREAM)
    default = sorted(listed(table, keys.events_partition("default")))
    assert default == [f"evt_{n:024x}" for n in (1, 3, 4, 6, 7, 8)]
    assert sorted(listed(table, keys.events_partition("default", "refund.created"))) == [
        f"evt_{n:024x}" for n in (3, 7)]
    assert listed(table, keys.events_partition("acme")) == [f"evt_{n:024x}" for n in (5, 2)]   # newest first
    [chunk] = [c for (pk, _), c in table.items() if pk.startswith("P#default#EVENTS#") and "event_type" not in c]
    assert chunk["SK"] == "2026-12-03T10:00:01.000Z#evt_" + f"{1:024x}" and chunk["expires_at"] == 1766000008
    assert len(table) == 5   # default, default/payment.captured, default/refund.created, acme, acme/payment.captured


def test_a_retried_batch_and_its_bisected_halves_overwrite_the_same_chunks():
    """Given a batch whose invocation wrote its chunks and then died, when the stream retries it (the same
    batch, then, bisected, its halves, then a longer batch from the same first record and the rest), then the
    table ends with every event listed exactly once in each of its listings."""
    table: dict = {}
    apply(table, STREAM[:6])          # the first try: written, then the invocation died
    apply(table, STREAM[:6])          # the retry of the same batch
    apply(table, STREAM[:3])          # bisected: the first half (same first record)
    apply(table, STREAM[3:6])         # and the second
    apply(table, STREAM[6:])          # the next batch
    for program, event_type, numbers in (("default", None, (1, 3, 4, 6, 7, 8)), ("acme", None, (2, 5)),
                                         ("default", "refund.created", (3, 7)),
                                         ("default", "payment.captured", (1, 4, 6, 8))):
        assert sorted(listed(table, keys.events_partition(program, event_type))) == [
            f"evt_{n:024x}" for n in numbers], (program, event_type)


def test_a_retry_from_the_same_first_record_that_reads_further_replaces_the_shorter_try():
    table: dict = {}
    apply(table, STREAM[:2])          # died after writing
    apply(table, STREAM)              # the retry took more records behind the same first one
    assert sorted(listed(table, keys.events_partition("default"))) == [f"evt_{n:024x}" for n in (1, 3, 4, 6, 7, 8)]
    assert sorted(listed(table, keys.events_partition("acme"))) == [f"evt_{n:024x}" for n in (2, 5)]


def test_records_that_are_not_readable_events_are_left_out():
    chunks, skipped = plan_chunks([image(1), {"type": "OUTBOX"}, {**image(2), "program_id": "a#b"}, {}])
    assert skipped == 3 and [c["events"] for c in chunks] == [[f"evt_{1:024x}"]] * 2


def test_the_indexer_reads_event_inserts_whole_batches_with_retries_and_a_failure_destination():
    """Given template.yaml, then the indexer has its own event source mapping on the table's stream, filtered to
    INSERTs of EVENT items, without ReportBatchItemFailures (a failed batch is retried from its first record),
    one batch of a shard at a time, bisected on error, retried and then sent to its own on-failure queue (with an
    alarm); batches of up to 1,000 events within 1 s (a chunk far under 400 KB)."""
    props = template.functions()["IndexEventsFunction"].events["Events"]["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert "FunctionResponseTypes" not in props
    assert props["ParallelizationFactor"] == 1 and props["BisectBatchOnFunctionError"] is True
    assert props["BatchSize"] * (4 + 24 + 1) < 400_000 // 10 and props["MaximumBatchingWindowInSeconds"] <= 1
    assert props["MaximumRetryAttempts"] > 0 and props["MaximumRecordAgeInSeconds"] >= 600
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["IndexEventsDLQ", "Arn"]}
    assert filter_patterns(props) == [{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["EVENT"]}}}}]
    resources = template.resources()
    assert resources["IndexEventsDLQ"]["Properties"]["SqsManagedSseEnabled"] is True
    alarm = resources["IndexEventsDLQAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IndexEventsDLQ", "QueueName"]}}]
    readers = [fn for fn in template.functions().values()
               for source in fn.events.values() if source["Type"] == "DynamoDB"]
    assert len(readers) == 2, "DynamoDB streams serve at most two readers a shard"


def test_the_indexers_role_reads_the_stream_and_writes_only_event_listings():
    role = template.resources()["IndexEventsRole"]["Properties"]
    assert template.resources()["IndexEventsFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["IndexEventsRole", "Arn"]}
    [policy] = role["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(by_sid) == {"ReadTheTablesStream", "WriteTheEventListingsChunks", "SendFailedBatches"}
    assert by_sid["ReadTheTablesStream"]["Resource"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    write = by_sid["WriteTheEventListingsChunks"]
    assert write["Action"] == ["dynamodb:BatchWriteItem"] and write["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["P#*#EVENTS#*"]}}
    assert by_sid["SendFailedBatches"] == {"Sid": "SendFailedBatches", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                                           "Resource": {"Fn::GetAtt": ["IndexEventsDLQ", "Arn"]}}
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in by_sid.values())
