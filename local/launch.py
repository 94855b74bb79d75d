"""Start `python -m local.stack` as a child process on a free port and wait until it is healthy: what
the end-to-end tests and the benchmarks need, in one place."""

from __future__ import annotations

import json
import os
import signal
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
                   startup_timeout: float = 90.0, state_dir: Path | None = None,
                   extra_args: tuple[str, ...] = (), log_file: Path | None = None) -> Iterator[str]:
    """Yields the stack's base URL; stops the stack on exit. `--port 0` lets the stack bind a free port
    itself (no race) and report it in its state file, in a temporary directory of its own unless state_dir
    is given (a later stack on the same state_dir finds the data this one kept). The stack's output goes to
    `log_file` when given (started empty, kept after the stack stops), else into that directory."""
    with tempfile.TemporaryDirectory(prefix="flexigift-stack-") as tmp:
        output = log_file or Path(tmp) / "stack.log"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(b"")
        running = StackProcess(api_key, Path(state_dir or Path(tmp) / "state"), output,
                               workers=workers, log_level=log_level, extra_args=extra_args)
        try:
            yield running.start(startup_timeout)
        finally:
            running.stop()


class StackProcess:
    """`python -m local.stack` in a process group of its own (its Lambda workers included), so that a test
    can stop it, or kill -9 all of it at once, and start it again on the same state directory."""

    def __init__(self, api_key: str, state_dir: Path, output: Path, *, workers: int = 4,
                 log_level: str | None = None, extra_args: tuple[str, ...] = (), port: int = 0,
                 env: dict[str, str] | None = None) -> None:
        self.api_key, self.state_dir, self.output, self.env = api_key, state_dir, output, env or {}
        self.command = [sys.executable, "-m", "local.stack", "--port", str(port), "--state-dir", str(state_dir),
                        "--workers", str(workers), "--show-logs", *extra_args]  # all output in one file
        if log_level:
            self.command += ["--log-level", log_level]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> str:
        """Start it and wait until it is healthy; its base URL."""
        self.launch()
        assert self.process is not None
        return _wait_until_healthy(self.process, self.state_dir / "state.json", self.output, timeout)

    def launch(self) -> None:
        """Start it and return at once."""
        env = {**os.environ, "FLEXIGIFT_API_KEY": self.api_key, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("AWS_ENDPOINT_URL", None)
        (self.state_dir / "state.json").unlink(missing_ok=True)  # a killed stack's file names a dead port
        with self.output.open("ab") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=log,  # noqa: S603 # nosec B603  # our own interpreter and module
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill_all(self) -> None:
        """SIGKILL to the stack and every process it started, at once (a power cut, an OOM kill)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill_all()


def _wait_until_healthy(process: subprocess.Popen[bytes], state_file: Path, output: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            base_url = json.loads(state_file.read_text())["url"]
            with urllib.request.urlopen(base_url + "/_local/health", timeout=2) as answer:  # noqa: S310 # nosec B310  # loopback URL the stack wrote
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
