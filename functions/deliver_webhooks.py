"""SQS worker of the webhooks queue: fans each new event out to its program's subscribed endpoints, and makes
each endpoint's delivery attempts (logic.deliver_webhooks). The records of a batch run side by side, so a slow
or dead endpoint (up to 10 s an attempt) does not hold up the others. A delivery to retry later is reported
failed (ReportBatchItemFailures) after its message's visibility timeout was set to the delay: SQS gives it back
when the next attempt is due."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flexigift.aws import client, register_restore_hook, warm
from flexigift.logic.deliver_webhooks import Result, handle_message
from flexigift.observability import logger, metrics, tracer
from flexigift.settings import get_settings

MAX_VISIBILITY = 12 * 3600   # SQS's limit

warm("dynamodb", "sqs", "kms")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


def _one(record: dict[str, Any]) -> Result | None:
    try:
        return handle_message(json.loads(record["body"]))
    except Exception:  # noqa: BLE001 - this record is retried after the queue's visibility timeout
        logger.exception("webhook message failed", extra={"message_id": record.get("messageId")})
        return None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=min(10, len(records))) as pool:
        results = list(pool.map(_one, records))
    failures = []
    for record, result in zip(records, results, strict=True):
        if result is not None and result.later is None:
            continue
        if result is not None:
            client("sqs").change_message_visibility(QueueUrl=get_settings().webhooks_queue_url,
                                                    ReceiptHandle=record["receiptHandle"],
                                                    VisibilityTimeout=min(MAX_VISIBILITY, int(result.later or 1)))
        failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
