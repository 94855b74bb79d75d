"""Known-vulnerability check of every package installed in the project's virtualenvs, from PyPI's own
advisory data (the `vulnerabilities` of PyPI's JSON API, which PyPI fills from the OSV / PyPA advisory
database), for machines where pip-audit's vulnerability service cannot be reached.

Why it exists: where this project is developed, PyPI's JSON API answers 404 for the per-release URL
(/pypi/<name>/<version>/json) that pip-audit queries, so pip-audit audits nothing there. The per-project
URL (/pypi/<name>/json) does answer, and lists the advisories that affect the project's NEWEST release.
So a package is checked for real here when either

- the per-release URL answers (then its advisories are exactly the installed version's), or
- the installed version is the newest release (then the per-project advisories are the installed one's).

Any other package (an older pin whose release URL is unreachable) is reported as NOT CHECKED, by name.
Nothing is assumed safe: the summary line says how many were checked and how many were not, and
`--strict` fails on any that could not be checked.

    python .ci/advisories.py [--strict] [--ignore ID ...] VENV [VENV ...]

Exit status: 1 if an installed version has an advisory not ignored (or, with --strict, if any package
could not be checked), else 0.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

PYPI = "https://pypi.org/pypi"
TIMEOUT = 20


@dataclass
class Verdict:
    name: str
    version: str
    source: str = ""  # "release" or "newest", when checked
    advisories: list[dict] = field(default_factory=list)
    reason: str = ""  # why it could not be checked

    @property
    def checked(self) -> bool:
        return bool(self.source)


# What a virtualenv holds, asked of its own interpreter: uv's virtualenvs have no pip to list them.
_LIST_DISTRIBUTIONS = ("import importlib.metadata as m, json; "
                       "print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions()]))")


def installed(venv: str) -> dict[str, str]:
    """name -> version of every distribution in a virtualenv (pip's own excluded)."""
    listing = subprocess.run([f"{venv}/bin/python", "-I", "-c", _LIST_DISTRIBUTIONS],  # noqa: S603
                             capture_output=True, text=True, check=True).stdout
    names = {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in json.loads(listing)}
    return {name: version for name, version in names.items() if name != "pip"}


def _get(url: str) -> dict | None:
    """The JSON at url; None when PyPI answers 404."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (a fixed https URL)
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _live(advisories: list[dict] | None) -> list[dict]:
    return [a for a in advisories or [] if not a.get("withdrawn")]


def _names(advisory: dict) -> set[str]:
    return {advisory["id"], *(advisory.get("aliases") or [])}


def _describe(advisory: dict) -> str:
    fixed = ", ".join(advisory.get("fixed_in") or []) or "no fixed release"
    aliases = ", ".join(advisory.get("aliases") or [])
    return f"{advisory['id']}" + (f" ({aliases})" if aliases else "") + f"; fixed in: {fixed}"


def check(name: str, version: str) -> Verdict:
    verdict = Verdict(name, version)
    try:
        release = _get(f"{PYPI}/{name}/{version}/json")
        if release is not None:
            verdict.source, verdict.advisories = "release", _live(release.get("vulnerabilities"))
            return verdict
        project = _get(f"{PYPI}/{name}/json")
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as error:
        verdict.reason = f"PyPI unreachable ({error})"
        return verdict
    if project is None:
        verdict.reason = "unknown to PyPI"
    elif project["info"]["version"] != version:
        verdict.reason = f"newest is {project['info']['version']}; this release's advisories are unreachable here"
    else:
        verdict.source, verdict.advisories = "newest", _live(project.get("vulnerabilities"))
    return verdict


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("venvs", nargs="+")
    parser.add_argument("--strict", action="store_true", help="fail when a package could not be checked")
    parser.add_argument("--ignore", action="append", default=[], metavar="ID",
                        help="an advisory id (PYSEC-..., GHSA-..., CVE-...) judged not to apply; give the reason beside it")
    args = parser.parse_args(argv)
    packages: dict[tuple[str, str], None] = {}
    for venv in args.venvs:
        packages.update(dict.fromkeys(installed(venv).items()))
    with ThreadPoolExecutor(max_workers=16) as pool:
        verdicts = sorted(pool.map(lambda item: check(*item), packages), key=lambda v: (v.name, v.version))

    vulnerable = []
    for verdict in verdicts:
        live, seen = [], set(args.ignore)
        for advisory in verdict.advisories:  # one advisory is often listed under each of its aliases
            if not _names(advisory) & seen:
                live.append(advisory)
            seen |= _names(advisory)
        if live:
            vulnerable.append(verdict)
            print(f"VULNERABLE {verdict.name}=={verdict.version}:")
            for advisory in live:
                print(f"    {_describe(advisory)}")
    unchecked = [v for v in verdicts if not v.checked]
    for verdict in unchecked:
        print(f"not checked: {verdict.name}=={verdict.version}: {verdict.reason}")
    by_release = sum(v.source == "release" for v in verdicts)
    by_newest = sum(v.source == "newest" for v in verdicts)
    print(f"advisories: {len(verdicts)} installed packages; {by_release + by_newest} checked "
          f"({by_release} by their release's advisories, {by_newest} as the newest release); "
          f"{len(unchecked)} not checked; {len(vulnerable)} with known vulnerabilities")
    if vulnerable:
        return 1
    if unchecked and args.strict:
        print("advisories: --strict and some packages could not be checked", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
