"""Partial batch responses (ReportBatchItemFailures) for the queue and stream consumers: each record is handled
on its own, and the ones that raised are reported by their identifier (an SQS message id, a stream record's
sequence number), so only they come back: a queue's after its visibility timeout (and to its dead-letter queue
after maxReceiveCount), a stream's from the first failed record on (bisected, then to the on-failure queue).
The same contract as Powertools' BatchProcessor with raise_on_entire_batch_failure off, without importing its
batch utilities and event classes (tens of milliseconds of a cold start) for a loop."""

from __future__ import annotations

from typing import Any, Callable

from flexigift.observability import logger


def _batch_response(event: dict[str, Any], handle: Callable[[dict[str, Any]], Any],
                    identifier: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    failures = []
    for record in event.get("Records") or []:
        try:
            handle(record)
        except Exception:  # noqa: BLE001 - this record alone is retried; the others are done
            logger.exception("record failed", extra={"record": identifier(record)})
            failures.append({"itemIdentifier": identifier(record)})
    return {"batchItemFailures": failures}


def sqs_batch_response(event: dict[str, Any], handle: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Handle every SQS record of the event with `handle`; report the ones that raised by message id."""
    return _batch_response(event, handle, lambda record: record["messageId"])


def stream_batch_response(event: dict[str, Any], handle: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Handle every DynamoDB stream record of the event with `handle`; report the ones that raised by sequence
    number."""
    return _batch_response(event, handle, lambda record: record["dynamodb"]["SequenceNumber"])
