"""Start `python -m local.stack` as a child process on a free port and wait until it is healthy: what
the end-to-end tests and the benchmarks need, in one place."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # starts only our own interpreter with our own module
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.template import ROOT


class StackDidNotStart(RuntimeError):
    """The stack exited or did not become healthy in time; the message carries its output."""


@contextmanager
def launched_stack(api_key: str, *, workers: int = 4, log_level: str | None = None,
                   startup_timeout: float = 90.0, log_file: Path | None = None) -> Iterator[str]:
    """Yields the stack's base URL; stops the stack on exit. `--port 0` lets the stack bind a free port
    itself (no race) and report it in its state file, in a temporary directory of its own. The stack's
    output goes to `log_file` when given (kept after the stack stops), else into that directory."""
    with tempfile.TemporaryDirectory(prefix="flexigift-stack-") as tmp:
        state_dir, output = Path(tmp) / "state", log_file or Path(tmp) / "stack.log"
        output.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "FLEXIGIFT_API_KEY": api_key, "PYTHONUNBUFFERED": "1"}
        env.pop("AWS_ENDPOINT_URL", None)
        command = [sys.executable, "-m", "local.stack", "--port", "0", "--state-dir", str(state_dir),
                   "--workers", str(workers)]
        if log_level:
            command += ["--log-level", log_level]
        with output.open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,  # noqa: S603 # nosec B603 - our own interpreter and module
                                       stderr=subprocess.STDOUT)
            try:
                yield _wait_until_healthy(process, state_dir / "state.json", output, startup_timeout)
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(5)


def _wait_until_healthy(process: subprocess.Popen[bytes], state_file: Path, output: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            base_url = json.loads(state_file.read_text())["url"]
            with urllib.request.urlopen(base_url + "/_local/health", timeout=2) as answer:  # noqa: S310 # nosec B310 - loopback URL the stack wrote
                if json.loads(answer.read()) == {"status": "ok"}:
                    return base_url
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
        process.wait(10)
    raise StackDidNotStart(f"the local stack did not become healthy within {timeout:.0f}s (exit code "
                           f"{process.returncode}); its output:\n{output.read_text(errors='replace')[-5000:]}")
