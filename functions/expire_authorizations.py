"""Scheduled (EventBridge, every minute): release the holds of every authorization whose expires_at has
passed. The answer is the run's report."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.expire_authorizations import sweep
from flexigift.observability import logger, metrics, tracer

warm("dynamodb")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: Any) -> dict:
    logger.info("expiry sweep started", extra={"trigger": event.get("detail-type", "manual")})
    return sweep().model_dump(mode="json")
