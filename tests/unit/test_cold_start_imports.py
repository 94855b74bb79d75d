"""What a handler's cold start loads: each check imports a handler in a fresh interpreter, as Lambda does,
and looks at sys.modules. (Times are measured by `make bench`, never here.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import importlib
module = importlib.import_module(sys.argv[3])
from flexigift.observability import tracer
HEAVY = ("aws_xray_sdk", "email_validator", "pydantic", "aws_lambda_powertools.event_handler",
         "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes")
print(json.dumps({"modules": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or ".".join(m.split(".")[:2]) in HEAVY
                                    or ".".join(m.split(".")[:3]) in HEAVY),
                  "tracer": type(tracer).__name__}))
"""


def import_handler(module: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    clean.pop("PYTHONPATH", None)
    clean.update({"AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "flexigift-test", **env})
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions"), str(ROOT / "layers/common"), module],  # noqa: S603
                         env=clean, capture_output=True, text=True, check=True, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["get_user", "create_user", "create_payment", "create_reward_order", "route_fallback",
                                    "authorizer", "deliver_reward_emails", "fail_reward_deliveries",
                                    "relay_outbox", "index_events"])
def test_with_tracing_off_a_handler_loads_neither_the_xray_sdk_nor_email_validator(module):
    """Given tracing off (POWERTOOLS_TRACE_DISABLED, or outside Lambda), when a handler is imported, then
    neither the X-Ray SDK nor email-validator is loaded: both cost cold-start time no such request needs; nor
    pydantic (flexigift.shapes runs the models), nor Powertools' HTTP resolvers, batch utilities or event
    classes (flexigift.api, flexigift.partial_batch and store.stream do their work)."""
    loaded = import_handler(module, LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")
    assert loaded == {"modules": [], "tracer": "Untraced"}
    assert import_handler(module)["tracer"] == "Untraced"  # outside Lambda: Powertools' rule, off


def test_with_tracing_on_in_lambda_the_handler_is_traced_by_powertools():
    """Given a Lambda environment with tracing on (as deployed), when a handler is imported, then its tracer
    is Powertools' Tracer with the X-Ray SDK loaded."""
    loaded = import_handler("get_user", LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="false")
    assert loaded["tracer"] == "Tracer"
    assert "aws_xray_sdk" in loaded["modules"]


def test_the_stand_in_tracer_leaves_a_handler_untouched():
    from flexigift.observability import Untraced

    def handler(event, context):
        return {"event": event}

    untraced = Untraced()
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_lambda_handler(capture_response=False)(handler) is handler
    assert untraced.capture_method(handler) is handler
    assert untraced.capture_method(capture_response=False)(handler) is handler
