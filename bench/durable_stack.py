"""Sections f and g: the local stack as data accumulates and across restarts (local/persistence.py).

f: a stack holding 10,000 users (one made through the API, the others written beside it in the same three-item
   shape with BatchWriteItem through the stack's moto, so journalled like any write) is killed with SIGKILL,
   process group and all, and started again on its state directory; then stopped cleanly and started again.
   Time from the start command to the first healthy answer; target < 15 s. A random sample of the users is
   read back through the API.
g: 400 payments one after another, spread on 8 cards: the median latency of the last 50 against the first
   50 (target <= 1.5x), and the stack's memory (the resident set of its process and its Lambda workers)
   before and after (target: growth < 300 MiB).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.report import Figure, median, ms
from local.launch import StackProcess
from local.moto_backend import DUMMY_CREDENTIALS, REGION

USERS = int(os.environ.get("BENCH_RESTART_USERS", "10000"))
PAYMENTS, CARDS, WINDOW = 400, 8, 50


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, AttributeError):
            continue
        pending += [int(c) for c in children]
    return total / 1024


def _post(url: str, headers: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(url + path, json=body, headers=headers, timeout=60)
    assert response.status_code == 201, (path, response.status_code, response.text)
    return dict(response.json())


def _clone_users(state_dir: Path, template_user: dict[str, Any], count: int) -> None:
    """`count` more users in the shape the API wrote for `template_user` (user row, user_id and amazon_id
    guards), ids after it, and the id counter moved past them."""
    state = json.loads((state_dir / "state.json").read_text())
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=state["moto_endpoint"],
                            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    table, uid, aid, number = state["table_name"], template_user["user_id"], template_user["amazon_id"], \
        template_user["id"]
    shapes = [item for item in dynamodb.scan(TableName=table)["Items"]
              if uid in json.dumps(item) and "COUNTER" not in item["PK"]["S"]]
    assert len(shapes) == 3, shapes
    batch: list[dict[str, Any]] = []
    for n in range(number + 1, number + 1 + count):
        for shape in shapes:
            text = json.dumps(shape).replace(uid, f"bench-{n}").replace(aid, f"bench-amz-{n}")
            item = json.loads(text)
            item["PK"]["S"] = item["PK"]["S"].replace(f"#USER#{number}", f"#USER#{n}")
            for name in ("id", "ref_id"):
                if name in item:
                    item[name] = {"N": str(n)}
            if "GSI1SK" in item:
                width = len(item["GSI1SK"]["S"])
                item["GSI1SK"] = {"S": str(n).zfill(width)}
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:
                dynamodb.batch_write_item(RequestItems={table: batch})
                batch = []
    if batch:
        dynamodb.batch_write_item(RequestItems={table: batch})
    counter = next(i for i in dynamodb.scan(TableName=table)["Items"] if i["PK"]["S"].endswith("COUNTER#USER"))
    dynamodb.put_item(TableName=table, Item={**counter, "value": {"N": str(number + count)}})


@contextmanager
def _bench_stack(workdir: Path) -> Iterator[tuple[StackProcess, str, dict[str, str]]]:
    """A local stack of the bench's own (its state in workdir), its URL and the headers of its operator key;
    stopped on the way out."""
    key = "fgk_bench_" + secrets.token_urlsafe(24)
    stack = StackProcess(key, workdir / "state", workdir / "stack.log", log_level="WARNING")
    url = stack.start(120)
    try:
        yield stack, url, {"Authorization": key, "Content-Type": "application/json"}
    finally:
        stack.stop()


def restart(workdir: Path) -> list[Figure]:
    with _bench_stack(workdir) as (stack, url, headers):
        first = _post(url, headers, "/users", {"user_id": "bench-0", "amazon_id": "bench-amz-0", "name": "Bench",
                                               "email": "bench@example.com"})
        _clone_users(stack.state_dir, first, USERS - 1)
        figures = []
        for how in ("kill -9", "clean stop"):
            if how == "kill -9":
                stack.kill_all()
            else:
                stack.stop()
            started = time.perf_counter()
            url = stack.start(120)
            elapsed = time.perf_counter() - started
            sample = random.sample(range(first["id"], first["id"] + USERS), 20)  # noqa: S311 - a sample, not a secret
            found = sum(requests.get(f"{url}/users/{n}", headers=headers, timeout=30).status_code == 200
                        for n in sample)
            figures.append(Figure("g", f"restart after {how} holding {USERS:,} users: ready in",
                                  f"{elapsed:.1f} s", "< 15 s", elapsed < 15 and found == len(sample),
                                  f"{found}/{len(sample)} sampled users read back"))
        return figures


def flat_payments(workdir: Path) -> list[Figure]:
    with _bench_stack(workdir) as (stack, url, headers):
        _post(url, headers, "/products", {"product_id": "flat-penny", "name": "Penny", "price": "0.01",
                                          "eligible_issuer": "Kohls"})
        for n in range(CARDS):
            user = {"user_id": f"flat-{n}", "amazon_id": f"flat-amz-{n}", "name": "Flat", "email": "f@example.com"}
            created = _post(url, headers, "/users", user)
            card = _post(url, headers, "/gift_cards", {"card_id": f"flat-card-{n}", "user_id": user["user_id"],
                                                       "issuer": "Kohls", "balance": 1000, "expiry_date": "2035-12-31"})
            linked = requests.put(f"{url}/users/{created['id']}", json={**user, "gift_cards": [card["card_id"]]},
                                  headers=headers, timeout=30)
            assert linked.status_code == 200, linked.text
        assert stack.process is not None
        memory_before = _rss_mib(stack.process.pid)
        latencies = []
        with requests.Session() as http:
            for i in range(PAYMENTS):
                basket = {"user_id": f"flat-{i % CARDS}", "items": [{"product_id": "flat-penny", "quantity": 1}]}
                started = time.perf_counter()
                response = http.post(f"{url}/payments", json=basket, timeout=60,
                                     headers={**headers, "Idempotency-Key": f"flat-{i}"})
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
        memory_after = _rss_mib(stack.process.pid)
        first, last = median(latencies[:WINDOW]), median(latencies[-WINDOW:])
        growth = memory_after - memory_before
        return [
            Figure("h", f"{PAYMENTS} payments on {CARDS} cards: median of the last {WINDOW} / first {WINDOW}",
                   f"{last / first:.2f}x ({ms(last)} / {ms(first)})", "<= 1.5x", last / first <= 1.5),
            Figure("h", f"stack memory (process + workers) over {PAYMENTS} payments",
                   f"+{growth:.0f} MiB ({memory_before:.0f} -> {memory_after:.0f} MiB)", "< 300 MiB", growth < 300),
        ]


def run(section: str) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="flexigift-bench-") as tmp:
        return restart(Path(tmp)) if section == "g" else flat_payments(Path(tmp))
