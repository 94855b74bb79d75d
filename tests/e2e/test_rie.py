"""The built artifact, proven: every function of the x86_64 `sam build` output (`make rie-build`) runs under AWS's
Lambda Runtime Interface Emulator with awslambdaric (local/rie.py): only its build directory and the layer's on
the path, its own environment as the local stack resolved it (GET /_local/aws), its sample event from events/,
against the stack's moto. The events run in an order that gives the later ones something to act on (the ids a
create answered replace the sample's placeholder ids), and each answers the status its event expects."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from local import rie, template
from local.launch import StackProcess

pytestmark = pytest.mark.e2e
EVENTS = template.ROOT / "events"
SAMPLE_PAYMENT, SAMPLE_ORDER, SAMPLE_KEY = "pay_0123456789abcdef01234567", "ro_0123456789abcdef0123", \
    "key_0123456789abcdef"
SAMPLE_EVENT = "evt_0123456789abcdef01234567"

# (event file, the status its API answer must have, or for other events what the answer must be)
PLAN: list[tuple[str, Any]] = [
    ("create_program", 201), ("create_api_key", 201), ("list_api_keys", 200), ("create_user", 201),
    ("create_gift_card", 201), ("create_product", 201), ("update_user", 200), ("replace_user", 200),
    ("get_user", 200), ("list_users", 200), ("create_gift_card_activity", 201), ("list_gift_card_activities", 200),
    ("get_gift_card", 200), ("list_gift_cards", 200), ("get_product", 200),
    ("list_products", 200), ("update_product", 200), ("replace_product", 200), ("checkout_quote", 200),
    ("create_payment", 201), ("get_payment", 200), ("create_refund", 201), ("capture_payment", 409),
    ("void_payment", 409), ("update_gift_card", 200), ("refresh_rewards_catalog", "report"), ("get_rewards_catalog", 200),
    ("create_reward_order", 201), ("get_reward_order", 200), ("list_reward_orders", 200),
    ("index_events", "report"), ("list_events", 200), ("get_event", 200),
    # the sample endpoint's host (merchant.example, a reserved name) resolves nowhere: refused as unsafe, so the
    # endpoint routes answer for an endpoint that does not exist, and the delivery worker finds nothing to send
    ("create_webhook_endpoint", 422), ("list_webhook_endpoints", 200), ("list_webhook_deliveries", 404),
    ("retry_webhook_delivery", 404), ("deliver_webhooks", "batch"), ("delete_webhook_endpoint", 404),
    # the sample order is delivered in the API's answer (no delivery_email): only email orders can be resent
    ("resend_reward_order", 409), ("relay_outbox", "batch"), ("deliver_reward_emails", "batch"),
    ("fail_reward_deliveries", "batch"), ("expire_authorizations", "report"), ("revoke_api_key", 200),
    ("route_fallback", 405), ("authorizer", "allow"), ("replace_gift_card", 200), ("delete_product", 204),
    # the card still holds money that a payment may be refunded to, so it cannot be deleted, nor its user
    ("delete_gift_card", 409), ("delete_user", 409),
]


def _event(name: str, ids: dict[str, str]) -> Any:
    text = (EVENTS / f"{name}.json").read_text()
    for placeholder, real in ids.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


@pytest.fixture(scope="module")
def built() -> Path:
    required = os.environ.get("FLEXIGIFT_REQUIRE_RIE") == "1"  # `make test` sets it: there, missing is a failure
    missing = [what for what, there in (("the x86_64 build (.aws-sam/build-x86_64)", rie.BUILD_DIR.is_dir()),
                                        ("awslambdaric (.venv-rie)", rie.RIE_PYTHON.exists())) if not there]
    if missing:
        message = f"{' and '.join(missing)} missing: run `make rie-build`"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return rie.BUILD_DIR


def _check(name: str, expected: Any, answer: Any) -> str | None:
    """What is wrong with a function's answer to its event, or None."""
    if not isinstance(answer, dict) or "errorType" in answer:
        return "the invocation failed"
    if isinstance(expected, int):
        return None if answer.get("statusCode") == expected else f"status {answer.get('statusCode')}, not {expected}"
    if expected == "batch":  # an SQS or stream batch: nothing reported failed
        return None if answer.get("batchItemFailures") == [] else "a batch item failed"
    if expected == "allow":
        statements = (answer.get("policyDocument") or {}).get("Statement") or []
        allowed = answer.get("principalId") and statements and all(s.get("Effect") == "Allow" for s in statements)
        return None if allowed else "not allowed"
    return None if answer and not answer.get("failed") else "the schedule's report shows a failure"


def test_every_function_of_the_build_answers_its_event_under_the_runtime_emulator(built: Path, tmp_path: Path):
    key = json.loads((EVENTS / "authorizer.json").read_text())["headers"]["Authorization"].removeprefix("Bearer ")
    stack = StackProcess(key, tmp_path / "state", tmp_path / "stack.log", extra_args=("--in-memory",))
    url = stack.start(120)
    try:
        aws = requests.get(url + "/_local/aws", timeout=10).json()
        functions = {fn.handler.split(".")[0]: fn.logical_id for fn in template.functions().values()}
        assert {fn for fn in functions} == {name for name, _ in PLAN}, "every function runs here"
        ids: dict[str, str] = {}
        failures: list[str] = []
        for name, expected in PLAN:
            answer, output = rie.invoke(functions[name], _event(name, ids), aws, built)
            problem = _check(name, expected, answer)
            if problem:
                failures.append(f"{name}: {problem}: {json.dumps(answer)[:600]}\n{output[-1500:]}")
            elif isinstance(expected, int):
                body = json.loads(answer.get("body") or "null")
                if name == "create_payment":
                    ids[SAMPLE_PAYMENT] = body["id"]
                elif name == "create_reward_order":
                    ids[SAMPLE_ORDER] = body["order_id"]
                elif name == "create_api_key":
                    ids[SAMPLE_KEY] = body["key_id"]
                elif name == "list_events" and body:
                    ids[SAMPLE_EVENT] = body[0]["id"]
        assert not failures, "\n\n".join(failures)
    finally:
        stack.stop()


def test_the_build_ships_the_projects_modules_compiled(built: Path):
    """Given the build output (`make rie-build`, which `make build` matches), then every module of the layer's
    flexigift package and of a function's code has its bytecode beside it, hash-based and unchecked: Lambda's
    code directories are read-only, so a module shipped as source alone is compiled again at every cold start,
    and a zip's timestamps cannot validate a timestamp-based .pyc."""
    layer = built / "CommonLayer" / "python" / "flexigift"
    function = next(path for path in built.iterdir() if path.name == "GetUserFunction")
    sources = sorted(layer.rglob("*.py")) + sorted(function.glob("*.py"))
    assert len(sources) > 50
    uncompiled = []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little") if compiled.exists() else None
        if flags != 0b01:  # PEP 552: hash-based (bit 0), not checked against the source (bit 1 clear)
            uncompiled.append(f"{source.relative_to(built)}: {'no .pyc' if flags is None else f'flags {flags}'}")
    assert not uncompiled, uncompiled
