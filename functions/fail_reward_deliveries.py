"""SQS (the delivery dead-letter queue): an email that could not be sent after the queue's tries marks its
order failed, with the reason; the order can then be resent. A record that cannot be marked (DynamoDB
unavailable) is reported and stays on the dead-letter queue: nothing is lost."""

from typing import Any

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.deliver_orders import give_up, parse_message
from flexigift.observability import logger, metrics, tracer
from flexigift.partial_batch import sqs_batch_response
from flexigift.shapes import ValidationError

warm("dynamodb")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


def record_handler(record: dict[str, Any]) -> str:
    logger.set_correlation_id(record["messageId"])  # each record's lines carry its SQS message id
    try:
        message = parse_message(record["body"])
    except ValidationError:
        logger.error("unreadable message on the delivery dead-letter queue dropped",
                     extra={"message_id": record["messageId"], "body_length": len(record["body"])})
        metrics.add_metric(name="RewardDeliveryMessageUnreadable", unit="Count", value=1)
        return "unreadable"
    return give_up(message)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    return sqs_batch_response(event, record_handler)
