"""DynamoDB stream of the table (filtered to INSERTs of EVENT items): list each batch's new events for GET /events,
one chunk per program and one per (program, type) (store.events.index_batch). The whole batch succeeds or fails:
no ReportBatchItemFailures, so the stream retries a failed batch from its first record (bisecting it, and after
its retries sending its description to the on-failure queue), which is what makes the listing exactly once in
effect (store.events' docstring)."""

from typing import Any

from flexigift.aws import register_restore_hook, warm
from flexigift.observability import logger, metrics, tracer
from flexigift.store.events import index_batch
from flexigift.store.stream import new_image

warm("dynamodb")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    records = event.get("Records") or []
    listed, chunks, skipped = index_batch([new_image(record) for record in records])
    metrics.add_metric(name="EventsListed", unit="Count", value=listed)
    if skipped:
        logger.error("stream records that are not readable events left out", extra={"skipped": skipped})
        metrics.add_metric(name="EventsNotListed", unit="Count", value=skipped)
    logger.info("events listed", extra={"events": listed, "chunks": chunks, "records": len(records)})
    return {"events": listed, "chunks": chunks, "skipped": skipped}  # a report: the stream reads no answer
