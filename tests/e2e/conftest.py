"""End-to-end tests: real HTTP against `python -m local.stack` (the local gateway, the handlers in worker
processes, moto on loopback), started once per test session."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


@dataclass
class LocalStack:
    base_url: str
    api_key: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, api_key: str | None = None, bearer: bool = False) -> dict[str, str]:
        key = api_key or self.api_key
        return {"Authorization": f"Bearer {key}" if bearer else key, "Content-Type": "application/json"}


def _wait_until_ready(process: subprocess.Popen[bytes], state_file: Path, output: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            base_url = json.loads(state_file.read_text())["url"]
            if requests.get(base_url + "/_local/health", timeout=2).json() == {"status": "ok"}:
                return base_url
        except (OSError, ValueError, KeyError, requests.RequestException):
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    pytest.fail(f"the local stack did not become healthy within {STARTUP_TIMEOUT:.0f}s "
                f"(exit code {process.returncode}); its output:\n{output.read_text(errors='replace')}")


@contextmanager
def run_local_stack(api_key: str | None = None) -> Iterator[LocalStack]:
    """Start `python -m local.stack` on a free port with a bootstrap key that has every scope."""
    api_key = api_key or "fgk_e2e_" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="flexigift-e2e-") as tmp:
        state_dir, output = Path(tmp) / "state", Path(tmp) / "stack.log"
        env = {**os.environ, "FLEXIGIFT_API_KEY": api_key, "PYTHONUNBUFFERED": "1"}
        env.pop("AWS_ENDPOINT_URL", None)
        with output.open("wb") as log:
            # --port 0: the stack binds a free port itself (no race) and reports it in its state file
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "local.stack", "--port", "0", "--state-dir", str(state_dir),
                 "--workers", "4"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                base_url = _wait_until_ready(process, state_dir / "state.json", output)
                yield LocalStack(base_url=base_url, api_key=api_key)
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(5)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """Given a local stack shared by the session's end-to-end tests."""
    with run_local_stack() as running:
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
