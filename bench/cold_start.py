"""Figure a: cold start. Each handler module of template.yaml is imported (with its module-level init) in a
fresh interpreter, with its environment from the template and Lambda's import path (the function's
CodeUri, then its layers), and timed with perf_counter inside that process (interpreter start-up, the
same for every Lambda, is left out). The baseline is a handler that imports boto3 and creates one
DynamoDB client, measured in the same run: one baseline probe right before each handler probe, and a handler's
ratio is the median of its paired ratios (each probe over the baseline probe just before it), so that both
sides of a ratio saw the same machine load. The modules are compiled first, as `make build` ships them.

Each probe runs as in Lambda (AWS_LAMBDA_FUNCTION_NAME set), so the handler's init creates and warms the
clients it uses (flexigift.aws.warm), as the baseline's init creates its client. The last rows also time what
a cold start really costs, init plus the first request: GET /users/{id} (events/get_user.json) against moto's
server on loopback (the local stack's), beside the baseline's init plus one GetItem of the same item from
the same server."""

from __future__ import annotations

import compileall
import json
import os
import secrets
import subprocess
import sys
from collections import defaultdict

import requests

from bench.moto_env import function_environment
from bench.report import Figure, median, ms, ratio
from local import lambda_runtime, template
from local.launch import launched_stack

TARGET = 1.3           # every handler's init
MEDIAN_TARGET = 1.2    # the median handler's init
FIRST_REQUEST_TARGET = 1.2  # init + the first request, against the baseline's init + one GetItem
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))

HANDLER_PROBE = """
import importlib, json, sys, time
paths, module, attribute = json.loads(sys.argv[1])
sys.path[:0] = paths
start = time.perf_counter()
handler = getattr(importlib.import_module(module), attribute)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "xray_loaded": "aws_xray_sdk" in sys.modules}))
"""
# (tracing on, the X-Ray SDK reports the warm-up request's subsegment as discarded on stderr: init has no trace)

# The baseline handler's init: boto3 and one DynamoDB client with the application's client settings.
BASELINE_INIT = """
import boto3
from botocore.config import Config
client = boto3.session.Session().client("dynamodb", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                                  connect_timeout=3, read_timeout=10,
                                                                  max_pool_connections=16))
"""

BASELINE_PROBE = """
import json, time
start = time.perf_counter()
""" + BASELINE_INIT + """
print(json.dumps({"seconds": time.perf_counter() - start, "xray_loaded": False}))
"""

# What the libraries every handler loads add to the baseline, before any of the application's code: Powertools'
# logger and metrics (every handler's decorators). A handler cannot start faster than this. Beside it, for
# reference, what pydantic (one model built and used) would add: the handlers' models are validated by
# flexigift.shapes instead, because this row alone is above the 1.2x the median handler may take.
FLOOR_PROBE = """
import json, time
start = time.perf_counter()
""" + BASELINE_INIT + """
from aws_lambda_powertools import Logger, Metrics
Logger(service="floor"), Metrics(namespace="Floor", service="floor")
print(json.dumps({"seconds": time.perf_counter() - start, "xray_loaded": False}))
"""

PYDANTIC_PROBE = """
import json, time
start = time.perf_counter()
""" + BASELINE_INIT + """
from pydantic import BaseModel
class Probe(BaseModel):
    amount: int
Probe.model_validate({"amount": 1})
print(json.dumps({"seconds": time.perf_counter() - start, "xray_loaded": False}))
"""


FIRST_REQUEST_PROBE = """
import importlib, json, sys, time, types
paths, module, attribute, event = json.loads(sys.argv[1])
sys.path[:0] = paths
start = time.perf_counter()
handler = getattr(importlib.import_module(module), attribute)
context = types.SimpleNamespace(function_name=module, function_version="$LATEST", memory_limit_in_mb=512,
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + module,
                                aws_request_id="bench-first-request")
answer = handler(event, context)
print(json.dumps({"seconds": time.perf_counter() - start, "status": answer["statusCode"]}))
"""

BASELINE_FIRST_REQUEST_PROBE = """
import json, sys, time
table, key = json.loads(sys.argv[1])
start = time.perf_counter()
""" + BASELINE_INIT + """
item = client.get_item(TableName=table, Key=key).get("Item")
print(json.dumps({"seconds": time.perf_counter() - start, "status": 200 if item else 404}))
"""


def _probe(code: str, env: dict[str, str], argument: str = "") -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    clean.pop("PYTHONPATH", None)
    output = subprocess.run([sys.executable, "-c", code, argument], env={**clean, **env}, cwd="/",  # noqa: S603
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _in_lambda(fn: template.Function) -> dict[str, str]:
    """The function's environment as Lambda gives it: the template's, and the runtime's own variables: the
    function's name (which makes the handler warm its clients during init) and its task root (without which
    Powertools' Tracer counts itself outside Lambda and stays off even with tracing enabled)."""
    return {**function_environment(fn), "AWS_LAMBDA_FUNCTION_NAME": f"flexigift-{fn.logical_id}",
            "LAMBDA_TASK_ROOT": "/var/task"}


def _handler_argument(fn: template.Function) -> str:
    return json.dumps([lambda_runtime.code_paths([fn]), fn.module, fn.attribute])


def _baseline_env() -> dict[str, str]:
    return {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def import_costs(fn: template.Function, top: int = 8) -> list[tuple[str, float]]:
    """Self import time by top-level package (python -X importtime), largest first."""
    env = {**os.environ, **function_environment(fn), "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop("PYTHONPATH", None)
    stderr = subprocess.run([sys.executable, "-X", "importtime", "-c", HANDLER_PROBE, _handler_argument(fn)],  # noqa: S603
                            env=env, cwd="/", capture_output=True, text=True, check=True).stderr
    by_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        by_package[name.split(".")[0]] += int(self_us) / 1e6
    return sorted(by_package.items(), key=lambda item: -item[1])[:top]


def compile_sources() -> None:
    """The handlers' and the layer's modules compiled to bytecode first, as `make build` ships them (Lambda's
    code directories are read-only: without the .pyc files every cold start would compile them again), and
    as the libraries come from pip. Timestamp-checked here, so an edited source is compiled again."""
    for directory in ("functions", "layers/common"):
        compileall.compile_dir(str(template.ROOT / directory), quiet=1)


def run() -> tuple[list[Figure], list[str]]:
    compile_sources()
    functions = sorted(template.functions().values(), key=lambda f: f.module)
    baseline: list[float] = []
    floor: list[float] = []
    with_pydantic: list[float] = []
    samples: dict[str, list[float]] = defaultdict(list)
    paired: dict[str, list[float]] = defaultdict(list)  # each handler probe / the baseline probe just before it
    xray: dict[str, bool] = {}
    for _round in range(RUNS):
        for index, fn in enumerate(functions):
            if index % 6 == 0:
                floor.append(_probe(FLOOR_PROBE, _baseline_env())["seconds"])
                with_pydantic.append(_probe(PYDANTIC_PROBE, _baseline_env() | {"PYDANTIC_DISABLE_PLUGINS": "__all__"})
                                     ["seconds"])
            before = _probe(BASELINE_PROBE, _baseline_env())["seconds"]  # paired: both see the same machine load
            baseline.append(before)
            env = {**_in_lambda(fn), "POWERTOOLS_TRACE_DISABLED": "true"}
            result = _probe(HANDLER_PROBE, env, _handler_argument(fn))
            samples[fn.logical_id].append(result["seconds"])
            paired[fn.logical_id].append(result["seconds"] / before)
            xray[fn.logical_id] = result["xray_loaded"]
    base = median(baseline)
    figures = [Figure("a", "baseline: import boto3 + one DynamoDB client", ms(base), "", None,
                      f"median of {len(baseline)}"),
               Figure("a", "floor: the baseline + Powertools logger and metrics",
                      f"{ms(median(floor))} = {ratio(median(floor) / base)}", "", None,
                      f"median of {len(floor)}; what every handler loads before any application code"),
               Figure("a", "for reference: the baseline + pydantic (one model built and used)",
                      f"{ms(median(with_pydantic))} = {ratio(median(with_pydantic) / base)}", "", None,
                      f"median of {len(with_pydantic)}; why the models run on flexigift.shapes in Lambda")]
    ratios = []
    for fn in functions:
        value, share = median(samples[fn.logical_id]), median(paired[fn.logical_id])
        ratios.append(share)
        figures.append(Figure("a", f"cold start {fn.module}", f"{ms(value)} = {ratio(share)}",
                              f"<= {TARGET}x", share <= TARGET,
                              f"median of {RUNS} paired ratios" + ("; X-Ray SDK loaded though tracing is off"
                                                                   if xray[fn.logical_id] else "")))
    within = sum(r <= TARGET for r in ratios)
    figures.append(Figure("a", "cold start, the median handler", ratio(median(ratios)), f"<= {MEDIAN_TARGET}x",
                          median(ratios) <= MEDIAN_TARGET, f"{within} of {len(ratios)} handlers within {TARGET}x, "
                          f"worst {ratio(max(ratios))}"))
    # as deployed, tracing is on: one handler with POWERTOOLS_TRACE_DISABLED unset
    get_user = next((fn for fn in functions if fn.module == "get_user"), functions[0])
    traced, traced_paired = [], []
    for _ in range(RUNS):
        before = _probe(BASELINE_PROBE, _baseline_env())["seconds"]
        result = _probe(HANDLER_PROBE, _in_lambda(get_user) | {"POWERTOOLS_TRACE_DISABLED": "false"},
                        _handler_argument(get_user))
        assert result["xray_loaded"], "tracing on must load the X-Ray SDK, or this row measures nothing"
        seconds = result["seconds"]
        traced.append(seconds)
        traced_paired.append(seconds / before)
    figures.append(Figure("a", f"cold start {get_user.module}, tracing on (as deployed)",
                          f"{ms(median(traced))} = {ratio(median(traced_paired))}", f"<= {TARGET}x",
                          median(traced_paired) <= TARGET, f"median of {RUNS} paired ratios"))
    figures += first_request_figures(get_user)
    costs = import_costs(get_user)
    notes = [f"largest import costs of {get_user.module} (self time by top-level package, tracing off): "
             + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in costs)]
    return figures, notes


def first_request_figures(get_user: template.Function) -> list[Figure]:
    """Init plus the first request, handler and baseline interleaved, against one moto server."""
    api_key = "fgk_bench_" + secrets.token_urlsafe(24)
    with launched_stack(api_key, log_level="WARNING") as url:
        headers = {"Authorization": api_key, "Content-Type": "application/json"}
        created = requests.post(url + "/users", json={"user_id": "cold-user", "amazon_id": "amzcold",
                                                      "name": "Cold Start", "email": "cold@example.com"},
                                headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        number = created.json()["id"]
        aws = requests.get(url + "/_local/aws", timeout=30).json()
        table = aws["physical"]["Table"]
        env = {**_in_lambda(get_user), "TABLE_NAME": table, "AWS_ENDPOINT_URL": aws["endpoint"],
               "POWERTOOLS_TRACE_DISABLED": "true"}  # as every row but the one that says tracing on
        event = json.loads((template.ROOT / "events" / "get_user.json").read_text())
        event["pathParameters"]["id"], event["path"] = str(number), f"/users/{number}"
        handler_argument = json.dumps([lambda_runtime.code_paths([get_user]), get_user.module, get_user.attribute,
                                       event])
        baseline_argument = json.dumps([table, {"PK": {"S": f"P#default#USER#{number}"}, "SK": {"S": "USER"}}])
        baseline_env = {**_baseline_env(), "AWS_ENDPOINT_URL": aws["endpoint"]}
        handler_runs, baseline_runs = [], []
        for _ in range(RUNS * 2):
            for code, argument, environment, runs in ((BASELINE_FIRST_REQUEST_PROBE, baseline_argument, baseline_env,
                                                       baseline_runs),
                                                      (FIRST_REQUEST_PROBE, handler_argument, env, handler_runs)):
                result = _probe(code, environment, argument)
                assert result["status"] == 200, result  # a figure of a request that failed would mean nothing
                runs.append(result["seconds"])
    base, value = median(baseline_runs), median(handler_runs)
    return [
        Figure("a", "baseline + first request: boto3 + client + one GetItem", ms(base), "", None,
               f"median of {len(baseline_runs)}; moto server on loopback"),
        Figure("a", f"cold start + first request {get_user.module} (GET /users/{{id}})",
               f"{ms(value)} = {ratio(value / base)}", f"<= {FIRST_REQUEST_TARGET}x", value / base <= FIRST_REQUEST_TARGET,
               f"median of {len(handler_runs)}; the handler's client created and warmed in its init"),
    ]
