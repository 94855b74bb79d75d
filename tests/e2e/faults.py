"""Fault injection for end-to-end tests: find the local stack's handler worker processes and SIGKILL them, as a
Lambda execution environment can vanish at any line of a function."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def handler_workers() -> list[int]:
    """The Lambda worker processes of the stack(s) this test session started (local/workers.py spawns them)."""
    stacks = [p for p in _children(os.getpid()) if "local.stack" in _cmdline(p)]
    return [w for s in stacks for w in _children(s)
            if "spawn_main" in _cmdline(w) and "resource_tracker" not in _cmdline(w)]


def kill_workers_for(seconds: float, stop: threading.Event, killed: list[int]) -> None:
    """Kill a random handler worker every 0.3-0.8 s for `seconds` (the pool starts new ones on demand), then
    stop, so that every retried request can finish once the faults are over."""
    rng = random.Random()  # noqa: S311 - test timing, not a secret
    deadline = time.monotonic() + seconds
    while not stop.wait(rng.uniform(0.3, 0.8)) and time.monotonic() < deadline:
        workers = handler_workers()
        if workers:
            victim = rng.choice(workers)
            try:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            except ProcessLookupError:
                pass
