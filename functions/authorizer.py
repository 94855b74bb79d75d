"""REQUEST authorizer: the API key in the Authorization header -> an Allow policy carrying the key's
scopes and program in the request context. Unknown, revoked or missing keys get a 401."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from flexigift.aws import register_restore_hook, warm
from flexigift.logic.api_keys import authenticate
from flexigift.observability import logger

warm("dynamodb")  # in Lambda only: the clients this function uses, created during init
register_restore_hook()


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _api_wildcard(method_arn: str) -> str:
    """arn:aws:execute-api:region:account:api/stage/* so that a cached decision covers every route."""
    arn, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{arn}/{stage}/*"


# A REQUEST authorizer's event carries the API request's requestContext: its lines share the request id.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = authenticate(_header(event, "authorization"))
    if key is None:
        logger.info("authorization refused")
        raise Exception("Unauthorized")  # API Gateway answers 401 (the UNAUTHORIZED gateway response)
    logger.info("authorized", extra={"key_id": key.key_id})
    return {
        "principalId": key.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                           "Resource": _api_wildcard(event.get("methodArn", "*/*"))}],
        },
        # what every handler acts on: the key's program, scopes, issuer binding ("" for none), operator flag
        "context": {"key_id": key.key_id, "scopes": " ".join(key.scopes), "program_id": key.program_id,
                    "issuer": key.issuer or "", "operator": "true" if key.operator else "false"},
    }
