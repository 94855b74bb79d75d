"""Figure c: warm overhead. A warm handler's latency against the very DynamoDB calls it made, replayed with
raw boto3 (a client with the application's config, the same in-process moto), in the same run.

Each handler call records the parameters of its DynamoDB calls (botocore's provide-client-params event);
the replay sends them, unchanged but for the table name, to a twin of the table that has received the
same writes, so conditions hold or fail there exactly as they did for the handler."""

from __future__ import annotations

import copy
import os
import time
import uuid
from typing import Any

from bench.moto_env import REGION, TABLE, moto_aws
from bench.report import Figure, median, ms, ratio
from local import template

TARGET = 1.2
ITERATIONS = int(os.environ.get("BENCH_WARM_ITERATIONS", "200"))
TWIN = TABLE + "-raw"


def _retarget(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _retarget(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_retarget(v) for v in value]
    return TWIN if value == TABLE else value


def raw_client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session(region_name=REGION).client("dynamodb", config=config)


def run() -> list[Figure]:
    figures = []
    with moto_aws() as aws:
        from flexigift.aws import dynamodb
        from tests.support import FakeContext, api_event, handler

        aws.dynamodb.create_table(TableName=TWIN, **template.table_definition())
        raw = raw_client()
        methods = {api: name for name, api in raw.meta.method_to_api_mapping.items()}
        recorded: list[tuple[str, dict]] = []
        dynamodb().meta.events.register(
            "provide-client-params.dynamodb.*",
            lambda params, model, **_: recorded.append((model.name, copy.deepcopy(params))))

        def replay(calls: list[tuple[str, dict]]) -> None:
            for name, params in calls:
                try:
                    getattr(raw, methods[name])(**_retarget(params))
                except raw.exceptions.ClientError:
                    pass  # a refusal the handler met too (a failed condition) costs the same here

        counter = iter(range(1_000_000))

        def create_event() -> dict:
            n = next(counter)
            event = api_event("create_user", body={"user_id": f"bench{n:06d}", "amazon_id": f"amz{n:06d}",
                                                    "name": "Bench User", "email": f"bench{n}@example.com"})
            event["requestContext"]["requestId"] = str(uuid.uuid4())
            return event

        cases = [("POST /users [create_user]", "create_user", create_event),
                 ("GET /users/{id} [get_user]", "get_user", lambda: api_event("get_user", path_id=1)),
                 ("GET /users [list_users]", "list_users", lambda: api_event("list_users"))]
        for label, module, make_event in cases:
            entry = handler(module)
            for _ in range(5):  # warm: imports done, client created, first-call caches filled
                recorded.clear()
                entry(make_event(), FakeContext())
                replay(list(recorded))
            handler_times, raw_times = [], []
            for _ in range(ITERATIONS):
                event = make_event()
                recorded.clear()
                start = time.perf_counter()
                result = entry(event, FakeContext())
                handler_times.append(time.perf_counter() - start)
                assert result["statusCode"] < 300, result
                calls = list(recorded)
                start = time.perf_counter()
                replay(calls)
                raw_times.append(time.perf_counter() - start)
            h, r = median(handler_times), median(raw_times)
            names = ", ".join(name for name, _ in calls)
            figures.append(Figure("c", f"warm {label}", f"{ms(h)} vs raw {ms(r)} = {ratio(h / r)}",
                                  f"<= {TARGET}x", h / r <= TARGET,
                                  f"median of {ITERATIONS}; calls: {names}"))
    return figures
