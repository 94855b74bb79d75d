"""The local stack's execution environments (local/workers.py): a worker that died while idle is replaced,
never handed an invocation, as Lambda never routes one to an environment that is gone.

Found by CI: the crash tests SIGKILL workers at random, idle ones included; a dead idle worker stayed at the
bottom of the pool's idle stack until the first burst wide enough to reach it (20 parallel registrations),
whose authorizer call then failed with a 500."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local import template
from local.workers import WorkerPool

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "route_fallback.json").read_text())


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerPool]:
    fallback = template.functions()["RouteFallbackFunction"]  # answers from its environment, no AWS call
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
                        "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
                        "TABLE_NAME": "unused", "ALLOWED_METHODS": fallback.environment["ALLOWED_METHODS"]}.items():
        monkeypatch.setenv(name, value)  # spawned workers inherit it
    workers = WorkerPool(size=3, warm=3)
    workers.start()
    yield workers
    workers.stop()


def _fallback(pool: WorkerPool, n: int) -> tuple[bool, int | None]:
    outcome = pool.invoke(template.functions()["RouteFallbackFunction"], EVENT, f"request-{n}")
    return outcome.error, (outcome.payload or {}).get("statusCode")


def test_a_worker_killed_while_idle_is_replaced_not_invoked(pool: WorkerPool) -> None:
    """Given three warm workers of which two are SIGKILLed while idle, when a burst of invocations needs every
    slot of the pool, then every invocation is answered by a live worker: none fails with the dead ones."""
    idle = list(pool._idle)  # noqa: SLF001 - the test reaches the environments it kills, as faults.py does
    assert len(idle) == 3
    for worker in idle[:2]:
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(5)
    with ThreadPoolExecutor(max_workers=6) as burst:
        outcomes = list(burst.map(lambda n: _fallback(pool, n), range(12)))
    assert all(error is False for error, _ in outcomes), outcomes
    assert {status for _, status in outcomes} <= {404, 405}, outcomes
    assert all(w.process.is_alive() for w in pool._idle)  # noqa: SLF001
