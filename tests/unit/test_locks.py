"""The lock files agree with what they lock: `make lock` was run after the last edit of a *.in file.

Each virtualenv is synced by uv to exactly its lock (`uv pip sync --require-hashes`), and `sam build` installs
the layer's lock, so a pin edited in a *.in file and not relocked would silently not be installed.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_LOCK = ROOT / "layers/common/requirements.txt"
LOCKS = {
    ROOT / "layers/common/requirements.in": LAYER_LOCK,
    ROOT / "requirements/dev.in": ROOT / "requirements/dev.txt",
    ROOT / "requirements/sam.in": ROOT / "requirements/sam.txt",
    ROOT / "requirements/audit.in": ROOT / "requirements/audit.txt",
    ROOT / "requirements/rie.in": ROOT / "requirements/rie.txt",
    ROOT / "requirements/uv.in": ROOT / "requirements/uv.txt",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def input_pins(path: Path) -> dict[str, str]:
    """The name==version pins of a *.in file, following its -r includes."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= input_pins((path.parent / line[3:].strip()).resolve())
        elif line:
            match = PIN.match(line)
            assert match, f"{path.name}: {line!r} is not pinned with =="
            pins[normalise(match[1])] = match[2]
    return pins


def lock_entries(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for each requirement of a compiled lock."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = normalise(match[1])
            entries[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return entries


@pytest.mark.parametrize("source", list(LOCKS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_pin_of_the_input_is_locked_at_its_version(source: Path) -> None:
    locked = lock_entries(LOCKS[source])
    for name, version in input_pins(source).items():
        assert name in locked, f"{name} is pinned in {source.name} but missing from its lock: run `make lock`"
        assert locked[name][0] == version, (
            f"{name}=={version} in {source.name}, {locked[name][0]} in its lock: run `make lock`"
        )


@pytest.mark.parametrize("lock", list(LOCKS.values()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_locked_package_carries_hashes(lock: Path) -> None:
    entries = lock_entries(lock)
    assert entries, f"{lock} locks nothing"
    unhashed = sorted(name for name, (_, hashes) in entries.items() if hashes == 0)
    assert not unhashed, f"{lock.name}: no --hash for {unhashed}"


def test_the_tests_run_the_versions_that_are_deployed() -> None:
    """The project's venv is resolved within the layer's lock: every package both hold is at one version."""
    layer = lock_entries(LAYER_LOCK)
    dev = lock_entries(ROOT / "requirements/dev.txt")
    assert layer.keys() <= dev.keys(), f"in the layer but not in the dev lock: {sorted(layer.keys() - dev.keys())}"
    differing = {name: (layer[name][0], dev[name][0]) for name in layer if layer[name][0] != dev[name][0]}
    assert not differing, f"layer vs dev versions: {differing}"
