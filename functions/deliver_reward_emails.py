"""SQS (the delivery queue): send each order's reward email once. Failed records are reported one by one
(ReportBatchItemFailures), so only they are retried; after the queue's maxReceiveCount they go to the
dead-letter queue."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.deliver_orders import deliver, parse_message
from flexigift.observability import logger, metrics, tracer

warm("dynamodb", "kms", "sesv2")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    logger.set_correlation_id(record.message_id)  # each record's lines carry its SQS message id
    return deliver(parse_message(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
