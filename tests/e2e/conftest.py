"""End-to-end tests: real HTTP against `python -m local.stack` (the local gateway, the handlers in worker
processes, moto on loopback), started once per test session."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from local.launch import StackDidNotStart, launched_stack

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
# The session stack's output (gateway lines, handler logs, worker timeouts), kept for a failed run's diagnosis
# (one per pytest-xdist worker: each worker runs its own session stack)
STACK_LOG = ROOT / ".local-stack" / f"e2e-stack-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"


@dataclass
class LocalStack:
    base_url: str
    api_key: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, api_key: str | None = None, bearer: bool = False) -> dict[str, str]:
        key = api_key or self.api_key
        return {"Authorization": f"Bearer {key}" if bearer else key, "Content-Type": "application/json"}


# Every request authorized afresh, as API Gateway does with the template's AuthorizerCacheSeconds set to 0: the
# tests revoke keys and expect the next request refused. The cache itself (the template's default, what
# `make run` and the benchmarks use) is tested in test_gateway.py.
AUTHORIZER_CACHE_OFF = ("--parameter", "AuthorizerCacheSeconds=0")


@contextmanager
def run_local_stack(api_key: str | None = None, log_file: Path | None = None) -> Iterator[LocalStack]:
    """Start `python -m local.stack` on a free port with its bootstrap key: the platform's operator key (every
    scope in the `default` program; it alone creates programs and keys for other programs)."""
    api_key = api_key or "fgk_e2e_" + secrets.token_urlsafe(24)
    try:
        with launched_stack(api_key, startup_timeout=STARTUP_TIMEOUT, log_file=log_file,
                            extra_args=AUTHORIZER_CACHE_OFF) as base_url:
            yield LocalStack(base_url=base_url, api_key=api_key)
    except StackDidNotStart as failure:
        pytest.fail(str(failure))


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """Given a local stack shared by the session's end-to-end tests."""
    with run_local_stack(log_file=STACK_LOG) as running:
        yield running


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def assert_error_shape(body: Any, code: str | None = None) -> dict[str, Any]:
    """Every error, from a handler or from the gateway, has this one shape."""
    assert isinstance(body, dict) and body.get("status") == "error", body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    error = body.get("error")
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body
    assert isinstance(error.get("fields"), list), body
    if code is not None:
        assert error["code"] == code, body
    return error
