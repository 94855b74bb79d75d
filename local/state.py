"""The running stack's state file (.local-stack/state.json): how the other local tools find it.

It holds the bootstrap API key, so it is written with mode 0600 in a 0700 directory."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from local.template import ROOT

STATE_DIR_VARIABLE = "FLEXIGIFT_LOCAL_STATE_DIR"


def state_file(state_dir: str | os.PathLike[str] | None = None) -> Path:
    directory = state_dir or os.environ.get(STATE_DIR_VARIABLE) or ROOT / ".local-stack"
    return Path(directory) / "state.json"


def write(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # in case the file existed with looser permissions
        json.dump(state, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def remove_if_ours(path: Path, pid: int) -> None:
    """Remove the state file unless another stack has written its own since."""
    state = read(path)
    if state is not None and state.get("pid") == pid:
        path.unlink(missing_ok=True)


def running_stack(path: Path | None = None, timeout: float = 1.0) -> dict[str, Any] | None:
    """The state of a stack that answers its health check, or None."""
    state = read(path or state_file())
    if not state or "port" not in state:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{state['port']}/_local/health",  # noqa: S310  # nosec B310  # loopback
                                    timeout=timeout) as response:
            healthy = response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except (OSError, ValueError):
        return None
    return state if healthy else None
