"""Durable local data (local/persistence.py): moto's server in this process with a store in a temporary
directory; a "crash" is the server stopped without a snapshot and every moto backend wiped, then a new server
on the same directory. What callers were answered must be there, including what a plain replay of the
requests could not reproduce: KMS key material, SQS message ids and deletions, the stream relay's progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.base_backend import BackendDict

from local import persistence
from local.moto_backend import REGION, MotoServer, aws_environment

TABLE = "durable"


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in aws_environment(None).items():
        monkeypatch.setenv(name, value)
    BackendDict.reset()
    yield
    BackendDict.reset()


class Running:
    def __init__(self, directory: Path) -> None:
        self.store = persistence.Store(directory)
        self.server = MotoServer(store=self.store)
        self.server.start()

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.server.endpoint)

    def crash(self) -> None:
        """The process dies: no snapshot, moto's memory gone."""
        self.server.stop()
        self.store.close()
        BackendDict.reset()


def _seed(dynamodb: Any) -> None:
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})


def _count(dynamodb: Any) -> int:
    return int(dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": "counter"}})["Item"]["n"]["N"])


def _add(dynamodb: Any, times: int) -> None:
    for _ in range(times):
        dynamodb.update_item(TableName=TABLE, Key={"PK": {"S": "counter"}}, UpdateExpression="ADD n :one",
                             ExpressionAttributeValues={":one": {"N": "1"}})


def test_answered_writes_survive_a_crash_with_and_without_a_snapshot(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    dynamodb = first.client("dynamodb")
    _seed(dynamodb)
    _add(dynamodb, 3)
    first.store.snapshot_now()
    _add(dynamodb, 4)  # journal only
    refused = dynamodb.exceptions.ConditionalCheckFailedException
    with pytest.raises(refused):  # a refused write changes nothing and is not journalled
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "counter"}}, ConditionExpression="attribute_not_exists(PK)")
    first.crash()

    second = Running(tmp_path)
    assert second.store.restored and second.store.replayed == 4
    assert _count(second.client("dynamodb")) == 7  # ADD is not idempotent: each answered request applied once
    _add(second.client("dynamodb"), 1)
    second.crash()
    third = Running(tmp_path)
    assert _count(third.client("dynamodb")) == 8
    third.crash()


def test_a_crash_between_the_snapshot_and_the_new_journal_applies_nothing_twice(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    _seed(first.client("dynamodb"))
    _add(first.client("dynamodb"), 5)
    first.store.snapshot_now()
    # the snapshot names generation g+1; an old journal found beside it is already inside it
    (tmp_path / f"journal-{first.store.generation - 1}.jsonl").write_text(
        (tmp_path / f"journal-{first.store.generation}.jsonl").read_text())
    first.crash()
    second = Running(tmp_path)
    assert _count(second.client("dynamodb")) == 5
    assert not (tmp_path / f"journal-{second.store.generation - 1}.jsonl").exists()
    second.crash()


def test_an_unfinished_last_entry_is_dropped(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    _seed(first.client("dynamodb"))
    _add(first.client("dynamodb"), 2)
    journal = first.store.journal_path(first.store.generation)
    first.crash()
    with journal.open("ab") as handle:
        handle.write(b'{"environ":{"REQUEST_METHOD":"POST"')  # the kill came in the middle of a write
    second = Running(tmp_path)
    assert _count(second.client("dynamodb")) == 2
    _add(second.client("dynamodb"), 1)  # written after the cut, on a line of its own
    second.crash()
    third = Running(tmp_path)
    assert _count(third.client("dynamodb")) == 3
    third.crash()


def test_a_background_snapshot_and_a_crash_before_it_lands(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    _seed(first.client("dynamodb"))
    _add(first.client("dynamodb"), 2)
    first.store.snapshot_in_background()  # forked child writes it; the parent journals on
    assert (tmp_path / "snapshot.pickle").exists()
    assert [p.name for p in tmp_path.glob("journal-*.jsonl")] == [f"journal-{first.store.generation}.jsonl"]
    _add(first.client("dynamodb"), 3)
    # the next one is cut short: the journal moved on, the child never wrote (as if killed with it)
    with first.store.lock:
        first.store._rotate()
    _add(first.client("dynamodb"), 4)
    first.crash()
    second = Running(tmp_path)
    assert _count(second.client("dynamodb")) == 9  # the older snapshot, then both journals, in order
    second.crash()


def test_kms_ciphertexts_still_decrypt(moto_env: None, tmp_path: Path):
    """A replayed CreateKey would make other key material; the key lives in the snapshot (the stack takes one
    right after provisioning its keys, before it answers anyone)."""
    first = Running(tmp_path)
    kms = first.client("kms")
    key_id = kms.create_key(Description="codes")["KeyMetadata"]["KeyId"]
    first.store.snapshot_now()
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"reward-code")["CiphertextBlob"]
    first.crash()
    second = Running(tmp_path)
    assert second.client("kms").decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"reward-code"
    second.crash()


def test_sqs_messages_keep_their_ids_and_deletions(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    sqs = first.client("sqs")
    url = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(3)]
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "m3"}])["Successful"]
    sent.append(batch[0]["MessageId"])
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    gone = next(m for m in received if m["Body"] == "m1")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=gone["ReceiptHandle"])
    first.crash()

    second = Running(tmp_path)
    left = second.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted((m["MessageId"], m["Body"]) for m in left) == sorted(
        (message_id, f"m{i}") for i, message_id in enumerate(sent) if i != 1)
    second.crash()


def test_the_stream_relay_resumes_after_what_it_handled(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    dynamodb = first.client("dynamodb")
    _seed(dynamodb)
    for i in range(5):
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"outbox-{i}"}})
    streams = first.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]

    def unread() -> list[str]:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return [r["dynamodb"]["Keys"]["PK"]["S"] for r in streams.get_records(ShardIterator=iterator)["Records"]]

    assert unread() == [f"outbox-{i}" for i in range(5)]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    third = int(shard["SequenceNumberRange"]["StartingSequenceNumber"]) + 2
    first.store.consumed(TABLE, "relay", third)  # the relay handled outbox-0..2
    assert unread() == ["outbox-3", "outbox-4"]
    first.crash()

    second = Running(tmp_path)
    streams = second.client("dynamodbstreams")
    assert unread() == ["outbox-3", "outbox-4"]  # not relayed twice, not lost
    second.crash()


@pytest.mark.parametrize("snapshot", [False, True])
def test_each_stream_reader_resumes_after_its_own_batches_and_none_is_cut_under_the_slower(
        moto_env: None, tmp_path: Path, snapshot: bool):
    """Given two readers of the stream (the relay, the event indexer) registered at start, when the relay has
    handled three records and the indexer one, then only the first record is cut (the indexer has yet to read
    the others); after a crash (with or without a snapshot taken after their progress) each resumes after its
    own last batch: the indexer's next batch starts at the same record its unfinished one did."""
    first = Running(tmp_path)
    dynamodb = first.client("dynamodb")
    _seed(dynamodb)
    relay_at, indexer_at = first.store.register_reader(TABLE, "relay"), first.store.register_reader(TABLE, "indexer")
    assert relay_at == indexer_at
    for i in range(5):
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"event-{i}"}})
    streams = first.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    start = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
    first.store.consumed(TABLE, "relay", start + 2)
    first.store.consumed(TABLE, "indexer", start)

    def after(position: int) -> list[str]:
        shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                              SequenceNumber=str(position))["ShardIterator"]
        return [r["dynamodb"]["Keys"]["PK"]["S"] for r in streams.get_records(ShardIterator=iterator)["Records"]]

    assert after(start) == ["event-1", "event-2", "event-3", "event-4"]   # nothing the indexer needs was cut
    if snapshot:
        first.store.snapshot_now()
    first.crash()

    second = Running(tmp_path)
    streams = second.client("dynamodbstreams")
    assert second.store.register_reader(TABLE, "relay") == start + 2
    assert second.store.register_reader(TABLE, "indexer") == start
    assert after(start + 2) == ["event-3", "event-4"] and after(start) == ["event-1", "event-2", "event-3", "event-4"]
    second.crash()


def test_only_state_changes_are_journalled(moto_env: None, tmp_path: Path):
    first = Running(tmp_path)
    dynamodb = first.client("dynamodb")
    _seed(dynamodb)
    before = first.store.entries
    dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": "x"}})
    dynamodb.scan(TableName=TABLE)
    dynamodb.describe_table(TableName=TABLE)
    assert first.store.entries == before
    _add(dynamodb, 1)
    assert first.store.entries == before + 1
    lines = first.store.journal_path(first.store.generation).read_text().splitlines()
    assert json.loads(lines[-1])["environ"]["HTTP_X_AMZ_TARGET"].endswith("UpdateItem")
    first.crash()


def test_stream_readers_positions_cross_moto_process_and_survive_its_restart(tmp_path: Path):
    """Given moto in its own process (the local stack's), when two stream readers register and report progress
    over its control connection, then a restart of that process with the same data resumes each after its
    own last record; without kept data there is no position to resume after."""
    from local.moto_process import MotoProcess

    moto = MotoProcess(tmp_path)
    moto.start()
    try:
        dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto.endpoint,
                                aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
        _seed(dynamodb)
        relay_at, indexer_at = moto.register_reader(TABLE, "relay"), moto.register_reader(TABLE, "indexer")
        assert isinstance(relay_at, int) and relay_at == indexer_at
        for i in range(3):
            dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"event-{i}"}})
        moto.consumed(TABLE, "relay", relay_at + 3)
        moto.consumed(TABLE, "indexer", relay_at + 1)
    finally:
        moto.stop()
    again = MotoProcess(tmp_path)
    again.start()
    try:
        assert again.restored
        assert again.register_reader(TABLE, "relay") == relay_at + 3
        assert again.register_reader(TABLE, "indexer") == relay_at + 1
    finally:
        again.stop()
    memory_only = MotoProcess(None)
    memory_only.start()
    try:
        assert memory_only.register_reader(TABLE, "relay") is None
    finally:
        memory_only.stop()
