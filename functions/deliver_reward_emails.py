"""SQS (the delivery queue): send each order's reward email once. Failed records are reported one by one
(ReportBatchItemFailures), so only they are retried; after the queue's maxReceiveCount they go to the
dead-letter queue."""

from typing import Any

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.deliver_orders import deliver, parse_message
from flexigift.observability import logger, metrics, tracer
from flexigift.partial_batch import sqs_batch_response

warm("dynamodb", "kms", "sesv2")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


def record_handler(record: dict[str, Any]) -> str:
    logger.set_correlation_id(record["messageId"])  # each record's lines carry its SQS message id
    return deliver(parse_message(record["body"]))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    return sqs_batch_response(event, record_handler)
