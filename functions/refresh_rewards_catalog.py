"""Scheduled (EventBridge): load the supplier's catalog feed and bring the rewards catalog in line with it.

The answer is the run's report (what was created, updated, marked unavailable, rejected). A feed that
cannot be fetched raises, so the run counts as failed and EventBridge's retry policy applies; a feed that
is fetched but unusable changes nothing and is reported (and counted) instead."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.refresh_catalog import refresh_catalog
from flexigift.observability import logger, metrics, tracer

warm("dynamodb", "s3")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    logger.info("catalog refresh started", extra={"trigger": event.get("detail-type", "manual")})
    return refresh_catalog().model_dump(mode="json")
