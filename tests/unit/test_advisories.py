"""The advisory check that stands in for pip-audit where its per-release queries go unanswered
(.ci/advisories.py): which packages count as checked, which do not, and what fails the build."""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("advisories", Path(__file__).parents[2] / ".ci" / "advisories.py")
advisories = sys.modules["advisories"] = importlib.util.module_from_spec(_SPEC)  # dataclasses look it up
_SPEC.loader.exec_module(advisories)

MINERVA = {"id": "PYSEC-1", "aliases": ["GHSA-x", "CVE-1"], "fixed_in": []}
MINERVA_AGAIN = {"id": "GHSA-x", "aliases": ["PYSEC-1", "CVE-1"], "fixed_in": []}
FIXED = {"id": "PYSEC-2", "aliases": [], "fixed_in": ["2.0"]}
WITHDRAWN = {"id": "PYSEC-3", "aliases": [], "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"}


def _pypi(pages: dict[str, dict | None]):
    """A fake of PyPI's JSON API: url path -> JSON (None answers 404, a missing path is unreachable)."""

    def get(url: str) -> dict | None:
        path = url.removeprefix(advisories.PYPI)
        if path not in pages:
            raise urllib.error.URLError("no route to host")
        return pages[path]

    return get


def _project(newest: str, vulnerabilities: list[dict]) -> dict:
    return {"info": {"version": newest}, "vulnerabilities": vulnerabilities}


def test_a_release_answering_is_checked_by_its_own_advisories(monkeypatch):
    """Given PyPI answers the installed release's page (as real PyPI does)."""
    monkeypatch.setattr(advisories, "_get", _pypi({"/lib/1.0/json": {"vulnerabilities": [FIXED, WITHDRAWN]}}))
    verdict = advisories.check("lib", "1.0")
    assert (verdict.source, [a["id"] for a in verdict.advisories]) == ("release", ["PYSEC-2"])


def test_the_newest_release_is_checked_by_the_projects_advisories(monkeypatch):
    """Given the release page is 404 (as here) and the installed version is the newest."""
    monkeypatch.setattr(advisories, "_get", _pypi({"/lib/2.0/json": None, "/lib/json": _project("2.0", [MINERVA])}))
    verdict = advisories.check("lib", "2.0")
    assert verdict.checked and verdict.source == "newest" and verdict.advisories == [MINERVA]


def test_an_older_release_is_not_checked_and_says_why(monkeypatch):
    """The newest release's advisories say nothing certain about an older one: not checked, not safe."""
    monkeypatch.setattr(advisories, "_get", _pypi({"/lib/1.0/json": None, "/lib/json": _project("2.0", [])}))
    verdict = advisories.check("lib", "1.0")
    assert not verdict.checked and "newest is 2.0" in verdict.reason


def test_pypi_unreachable_is_not_checked(monkeypatch):
    monkeypatch.setattr(advisories, "_get", _pypi({}))
    verdict = advisories.check("lib", "1.0")
    assert not verdict.checked and "unreachable" in verdict.reason


@pytest.fixture
def two_packages(monkeypatch):
    """Given one vulnerable newest package (one advisory listed under two ids) and one unchecked older one."""
    monkeypatch.setattr(advisories, "installed", lambda venv: {"bad": "2.0", "old": "1.0"})
    monkeypatch.setattr(advisories, "_get", _pypi({
        "/bad/2.0/json": None, "/bad/json": _project("2.0", [MINERVA, MINERVA_AGAIN]),
        "/old/1.0/json": None, "/old/json": _project("3.0", []),
    }))


def test_a_known_vulnerability_fails_and_is_printed_once(two_packages, capsys):
    assert advisories.main(["venv"]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE bad==2.0" in out and out.count("CVE-1") == 1
    assert "not checked: old==1.0" in out
    assert "2 installed packages; 1 checked" in out and "1 not checked; 1 with known vulnerabilities" in out


def test_ignoring_an_advisory_by_any_of_its_ids_passes(two_packages, capsys):
    assert advisories.main(["--ignore", "CVE-1", "venv"]) == 0
    assert "VULNERABLE" not in capsys.readouterr().out


def test_strict_fails_when_a_package_could_not_be_checked(two_packages):
    assert advisories.main(["--ignore", "PYSEC-1", "--strict", "venv"]) == 1
