"""Test support shared by unit and integration tests: events from events/, handler loading from
template.yaml, a fake Lambda context."""

from __future__ import annotations

import copy
import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from local import template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


class FakeContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "test-request-id"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def function_for_module(module: str) -> template.Function:
    for fn in template.functions().values():
        if fn.module == module:
            return fn
    raise LookupError(f"no function in template.yaml has handler module {module}")


def handler(module: str) -> Any:
    fn = function_for_module(module)
    return getattr(importlib.import_module(fn.module), fn.attribute)


def api_event(name: str, *, body: Any = ..., raw_body: str | None = None, path_id: Any = None,
              query: dict[str, str] | None = None, scopes: str | None = None,
              authorizer: dict[str, str] | None | type(...) = ...) -> dict[str, Any]:
    """A copy of events/<name>.json with the parts a test changes."""
    event = copy.deepcopy(load_event(name))
    if body is not ...:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if path_id is not None:
        key = next(iter(event["pathParameters"]))
        old = event["pathParameters"][key]
        event["pathParameters"][key] = str(path_id)
        event["path"] = event["path"].replace(f"/{old}", f"/{path_id}")
        event["requestContext"]["path"] = event["requestContext"]["path"].replace(f"/{old}", f"/{path_id}")
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if scopes is not None:
        event["requestContext"]["authorizer"]["scopes"] = scopes
    if authorizer is not ...:
        if authorizer is None:
            event["requestContext"].pop("authorizer", None)
        else:
            event["requestContext"]["authorizer"] = authorizer
    return event


def call(module: str, event: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
    """Invoke a handler; returns (status, parsed JSON body or None, headers with single values)."""
    result = handler(module)(event, FakeContext())
    headers = {k: v for k, v in (result.get("headers") or {}).items()}
    for name, value_list in (result.get("multiValueHeaders") or {}).items():
        headers[name] = value_list[-1]
    body = result.get("body")
    return result["statusCode"], (json.loads(body, parse_float=Decimal) if body else None), headers
