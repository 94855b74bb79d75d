"""The README's walk-through, run verbatim: every ```sh block of the quick start and checkout sections
is executed in order, in one shell, against a fresh local stack, and each answer must match the ```json
block the README shows after it ("..." stands for a value that differs each run)."""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, run_local_stack

BLOCK = re.compile(r"```(sh|json)\n(.*?)```", re.S)
MARKER = "@@flexigift-readme-block@@"


def walkthrough() -> list[tuple[str, Any]]:
    """(shell script, expected JSON or None) pairs, from '## Quick start' up to the seed notes."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick start")
    end = text.index("### Where this differs from the seed")
    pairs: list[tuple[str, Any]] = []
    for kind, body in BLOCK.findall(text[start:end]):
        if kind == "sh":
            pairs.append((body, None))
        elif pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], json.loads(body, parse_float=Decimal))
    return pairs


def matches(expected: Any, actual: Any, where: str = "$") -> None:
    """`expected` as the README shows it: "..." matches anything; objects may carry more fields."""
    if expected == "...":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} in {actual!r}"
            matches(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} vs {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            matches(e, a, f"{where}[{i}]")
    else:
        assert type(expected) is type(actual) and expected == actual, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def fresh_stack():
    """A stack of its own: the walk-through assumes an empty table (ids start at 1)."""
    with run_local_stack() as running:
        yield running


def test_readme_walkthrough_works_verbatim(fresh_stack, tmp_path: Path):
    """Given a fresh `make run`, when the README's curl blocks run in order, then each answers what the
    README shows, with the seed's field names and JSON types."""
    pairs = walkthrough()
    assert len(pairs) >= 9 and all(expected is not None for _, expected in pairs[1:])
    script = "set -eu\n" + "".join(f"{body}\necho\necho {MARKER}\n" for body, _ in pairs)
    script = script.replace("export FLEXIGIFT_API_KEY=fgk_local_demo_key", f"export FLEXIGIFT_API_KEY={fresh_stack.api_key}")
    script = script.replace("export API=http://127.0.0.1:3000", f"export API={fresh_stack.base_url}")
    assert fresh_stack.base_url in script and fresh_stack.api_key in script
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)  # noqa: S603,S607
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.split(MARKER)[: len(pairs)]
    for (body, expected), output in zip(pairs, outputs, strict=True):
        if expected is None:
            continue
        answer = json.loads(output.strip(), parse_float=Decimal)
        matches(expected, answer, where=body.strip().splitlines()[-1])
