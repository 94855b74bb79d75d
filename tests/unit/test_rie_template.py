"""local/rie.py writes template.yaml for this machine's architecture: nothing of arm64 left, code paths
relative to the copy's directory (sam resolves CodeUri from the template's location)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local import rie


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_native_template_names_only_this_machines_architecture(machine: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rie.platform, "machine", lambda: machine)
    text = rie.write_native_template(tmp_path / "sub" / "template-native.yaml").read_text()
    arch = "x86_64" if machine == "x86_64" else "arm64"
    other = "arm64" if arch == "x86_64" else "x86_64"
    assert other not in text and text.count(arch) == 3
    assert "CodeUri: ../functions/" in text and "ContentUri: ../layers/common/" in text
