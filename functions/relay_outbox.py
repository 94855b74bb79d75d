"""DynamoDB stream of the table (filtered to INSERTs of OUTBOX items): relay each outbox record to where it
goes (a reward email's round to the delivery queue). Failed records are reported one by one
(ReportBatchItemFailures): the stream retries from the first of them, bisecting a failing batch, and after
its retries sends the batch's description to the on-failure queue."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from flexigift.aws import register_restore_hook, warm
from flexigift.delivery.outbox import relay
from flexigift.observability import logger, metrics, tracer

warm("sqs")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def record_handler(record: DynamoDBRecord) -> str:
    logger.set_correlation_id(record.event_id)  # each record's lines carry its stream event id
    return relay(record.dynamodb.new_image if record.dynamodb else {})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

