"""flexigift.partial_batch and store.stream: how the queue and stream consumers answer Lambda (which records to
retry) and read a stream record's new image, without Powertools' batch utilities and event classes."""

from __future__ import annotations

from decimal import Decimal

from flexigift.partial_batch import sqs_batch_response, stream_batch_response
from flexigift.store.stream import new_image


def _stream_record(sequence: str, image: dict | None) -> dict:
    record = {"eventID": f"id-{sequence}", "eventName": "INSERT", "dynamodb": {"SequenceNumber": sequence}}
    if image is not None:
        record["dynamodb"]["NewImage"] = image
    return record


def test_only_the_stream_records_that_raised_are_reported_by_sequence_number_and_every_record_is_tried():
    """Given three stream records of which the second raises, when the batch is handled, then every record was
    handed over and only the second's sequence number is reported: the stream retries from it."""
    seen = []

    def handle(record: dict) -> None:
        seen.append(record["dynamodb"]["SequenceNumber"])
        if record["dynamodb"]["SequenceNumber"] == "200":
            raise RuntimeError("relay failed")

    event = {"Records": [_stream_record("100", {}), _stream_record("200", {}), _stream_record("300", {})]}
    assert stream_batch_response(event, handle) == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert seen == ["100", "200", "300"]


def test_an_sqs_batch_reports_failed_records_by_message_id_and_an_empty_event_reports_none():
    def handle(record: dict) -> None:
        if record["body"] == "bad":
            raise ValueError("bad")

    event = {"Records": [{"messageId": "m1", "body": "ok"}, {"messageId": "m2", "body": "bad"}]}
    assert sqs_batch_response(event, handle) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert sqs_batch_response({}, handle) == {"batchItemFailures": []}


def test_a_new_image_is_read_with_numbers_as_decimal_maps_lists_sets_and_binary_left_as_sent():
    """Given a stream record's NewImage in DynamoDB's JSON, when it is read, then numbers are Decimal (never
    float), nested maps and lists are Python values, sets are sets, and a binary value stays the base64 text
    the stream sent (as Powertools' reader left it); a record without an image (REMOVE) reads as {}."""
    image = {"PK": {"S": "P#default#OUTBOX#1"}, "amount": {"N": "12.50"}, "round": {"N": "3"},
             "flags": {"BOOL": True}, "gone": {"NULL": True}, "tags": {"SS": ["a", "b"]},
             "nested": {"M": {"items": {"L": [{"N": "1"}, {"S": "x"}]}}}, "blob": {"B": "AAE="}}
    assert new_image(_stream_record("1", image)) == {
        "PK": "P#default#OUTBOX#1", "amount": Decimal("12.50"), "round": Decimal("3"), "flags": True, "gone": None,
        "tags": {"a", "b"}, "nested": {"items": [Decimal("1"), "x"]}, "blob": "AAE="}
    assert isinstance(new_image(_stream_record("1", image))["amount"], Decimal)
    assert new_image(_stream_record("2", None)) == {}
