"""What the Lambda runtime does for a handler, done locally: the import path (/var/task and /opt/python),
the environment from template.yaml, a LambdaContext, and one invocation with Lambda's error contract
(errorMessage / errorType / stackTrace, and a JSON-serialisable result)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import template
from local.moto_backend import ACCOUNT_ID, REGION

FUNCTION_NAME_PREFIX = "flexigift-local-"

# Powertools settings for local runs: no X-Ray daemon here, and metrics (EMF lines on stdout) only
# when asked for with POWERTOOLS_METRICS_DISABLED=false.
LOCAL_POWERTOOLS = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


class LocalSetupError(RuntimeError):
    """The template asks for something the local stack cannot provide as it is; the message says what."""


class EnvironmentConflict(LocalSetupError):
    """Two functions want different values for one variable, and all of them share one environment."""


def function_environment(fn: template.Function, physical: dict[str, str],
                         parameters: dict[str, str] | None = None) -> dict[str, str]:
    resolved = {}
    for name, value in fn.environment.items():
        try:
            value = template.resolve(value, physical, parameters)
        except (KeyError, ValueError) as exc:
            raise LocalSetupError(
                f"{fn.logical_id}: environment variable {name} refers to something the local stack does not "
                f"provide yet ({exc}); give that resource type a stand-in in local/resources.py") from None
        if isinstance(value, (dict, list)):
            raise LocalSetupError(f"{fn.logical_id}: environment variable {name} uses an intrinsic function "
                                  f"that local/template.py cannot resolve: {value!r}")
        resolved[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return resolved


def union_environment(functions: list[template.Function], physical: dict[str, str],
                      parameters: dict[str, str] | None = None) -> dict[str, str]:
    """One environment for functions that share a process; a variable they disagree on is an error."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fn in functions:
        for name, value in function_environment(fn, physical, parameters).items():
            if name in merged and merged[name] != value:
                raise EnvironmentConflict(
                    f"{owner[name]} sets {name}={merged[name]!r} but {fn.logical_id} sets {name}={value!r}; "
                    "the local stack runs every function in one environment, so they must agree")
            merged[name] = value
            owner.setdefault(name, fn.logical_id)
    return merged


def code_paths(functions: list[template.Function]) -> list[str]:
    """Directories to import from: each CodeUri (Lambda's /var/task) and each layer (/opt/python)."""
    paths: list[str] = []
    for fn in functions:
        for relative in (fn.code_uri, *fn.layers):
            path = str((template.ROOT / relative).resolve())
            if path not in paths:
                paths.append(path)
    return paths


def check_code(functions: list[template.Function]) -> list[str]:
    """Problems with the functions' code: a module name in two code directories is an error (they share
    one import system here); a missing handler file only a warning (its routes answer 502 until it exists)."""
    warnings_found: list[str] = []
    seen: dict[str, Path] = {}
    for fn in functions:
        source = (template.ROOT / fn.code_uri).resolve() / f"{fn.module.replace('.', '/')}.py"
        if not source.is_file():
            warnings_found.append(f"{fn.logical_id}: handler {fn.handler} not found at {source}")
            continue
        if seen.setdefault(fn.module, source) != source:
            raise LocalSetupError(f"handler module {fn.module} exists in two code directories "
                                  f"({seen[fn.module]} and {source}); they cannot share a local process")
    return warnings_found


def prepare_process(functions: list[template.Function]) -> None:
    """Import path and warning filters for a process that runs handlers."""
    for path in reversed(code_paths(functions)):
        if path not in sys.path:
            sys.path.insert(0, path)
    # With metrics disabled, every request would warn that it published none.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def function_name(logical_id: str) -> str:
    return FUNCTION_NAME_PREFIX + logical_id


@dataclass
class LocalLambdaContext:
    """The attributes and method of the runtime's LambdaContext that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def for_function(cls, fn: template.Function, request_id: str | None = None) -> LocalLambdaContext:
        context = cls(function_name(fn.logical_id), fn.memory_size, fn.timeout)
        if request_id:
            context.aws_request_id = request_id
        return context


_handlers: dict[str, Any] = {}


def load_handler(fn: template.Function) -> Any:
    """The handler callable, imported once per process (the cold start), as Lambda does."""
    if fn.handler not in _handlers:
        module = importlib.import_module(fn.module)
        _handlers[fn.handler] = getattr(module, fn.attribute)
    return _handlers[fn.handler]


@dataclass
class Outcome:
    """One invocation: the JSON the runtime would return, or Lambda's error payload."""

    payload: Any                  # the result (parsed back from JSON) or {"errorMessage", "errorType", ...}
    error: bool
    duration_ms: float

    @property
    def error_message(self) -> str:
        return str(self.payload.get("errorMessage", "")) if self.error else ""


def invoke(fn: template.Function, event: Any, context: LocalLambdaContext) -> Outcome:
    """Call the handler once. Errors become Lambda's error payload; the traceback goes to stderr."""
    started = time.perf_counter()
    try:
        handler = load_handler(fn)
        result = handler(event, context)
        try:
            payload = json.loads(json.dumps(result))  # what leaves a Lambda function is JSON
        except (TypeError, ValueError) as exc:
            return Outcome({"errorMessage": f"Unable to marshal response: {exc}",
                            "errorType": "Runtime.MarshalError", "requestId": context.aws_request_id,
                            "stackTrace": []}, True, _ms(started))
        return Outcome(payload, False, _ms(started))
    except Exception as exc:  # noqa: BLE001 - anything a handler raises is the invocation's error
        stack = traceback.format_exception(exc)
        print(f"[ERROR] {fn.logical_id} {context.aws_request_id}: {type(exc).__name__}: {exc}\n"
              + "".join(stack), file=sys.stderr, flush=True)
        return Outcome({"errorMessage": str(exc), "errorType": type(exc).__name__,
                        "requestId": context.aws_request_id,
                        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__))},
                       True, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def apply_environment(variables: dict[str, str]) -> None:
    os.environ.update(variables)
    for name, value in LOCAL_POWERTOOLS.items():
        os.environ.setdefault(name, value)
