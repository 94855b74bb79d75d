"""DynamoDB stream of the table (filtered to INSERTs of OUTBOX items): relay each outbox record to where it
goes (a reward email's round to the delivery queue). Failed records are reported one by one
(ReportBatchItemFailures): the stream retries from the first of them, bisecting a failing batch, and after
its retries sends the batch's description to the on-failure queue."""

from typing import Any

from flexigift.aws import register_restore_hook, warm
from flexigift.delivery.outbox import relay
from flexigift.observability import logger, metrics, tracer
from flexigift.partial_batch import stream_batch_response
from flexigift.store.stream import new_image

warm("sqs")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


def record_handler(record: dict) -> str:
    logger.set_correlation_id(record.get("eventID"))  # each record's lines carry its stream event id
    return relay(new_image(record))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    return stream_batch_response(event, record_handler)

