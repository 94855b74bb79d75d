"""`python -m bench [a b c d e]`: run the benchmarks (all by default), print one table of figures with
their targets, and save it to bench/results-latest.txt."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path

from bench.report import Figure, format_table

RESULTS = Path(__file__).resolve().parent / "results-latest.txt"
SECTIONS = {
    "a": "cold start (fresh interpreter, import + module init) vs boto3 + one DynamoDB client",
    "b": "DynamoDB requests per API operation (botocore before-call events)",
    "c": "warm handler latency vs the same DynamoDB calls made with raw boto3",
    "d": "local stack throughput and latency, 8 concurrent clients, beside raw boto3 to its moto",
    "e": "catalog refresh of 10,000 items, then the same feed again",
    "f": "scale model: a day of 1,000,000 mixed operations, capacity units per partition key",
    "g": "local stack restart holding 10,000 users (after kill -9, after a clean stop)",
    "h": "local stack: 400 payments on 8 cards, latency and memory flat as data grows",
}


def _run_section(key: str) -> tuple[list[Figure], list[str]]:
    if key == "a":
        from bench import cold_start

        return cold_start.run()
    if key == "b":
        from bench import requests_per_route

        figures = requests_per_route.run()
        notes = ["*** SCAN FOUND IN A REQUEST PATH: see the rows marked SCAN ***"] \
            if requests_per_route.scan_seen(figures) else ["no Scan in any request path"]
        return figures, notes
    if key == "c":
        from bench import warm

        return warm.run(), []
    if key == "d":
        from bench import local_stack

        return local_stack.run(), []
    if key == "f":
        from bench import scale_model

        return scale_model.run(), []
    if key in ("g", "h"):
        from bench import durable_stack

        return durable_stack.run(key), []
    from bench import catalog_refresh

    return catalog_refresh.run(), []


def main(argv: list[str]) -> int:
    selected = [a for a in argv if a in SECTIONS] or list(SECTIONS)
    figures: list[Figure] = []
    notes: list[str] = []
    started = time.perf_counter()
    for key in selected:
        print(f"[bench] {key}: {SECTIONS[key]} ...", file=sys.stderr, flush=True)
        section_start = time.perf_counter()
        noise = io.StringIO()  # the handlers' EMF metric lines and log lines are not figures
        try:
            with contextlib.redirect_stdout(noise), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found, found_notes = _run_section(key)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others' figures
            traceback.print_exc()
            found, found_notes = [Figure(key, SECTIONS[key], "FAILED", "", False, repr(exc)[:160])], []
        figures += found
        notes += [f"{key}: {note}" for note in found_notes]
        print(f"[bench] {key}: done in {time.perf_counter() - section_start:.0f} s", file=sys.stderr, flush=True)

    header = [
        f"Flexigift benchmarks ({'make bench' if len(selected) == len(SECTIONS) else 'python -m bench ' + ' '.join(selected)})",
        f"run at {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; took {time.perf_counter() - started:.0f} s",
        "a: POWERTOOLS_TRACE_DISABLED=true for every handler (one extra row with tracing on, as deployed), and",
        "   AWS_LAMBDA_FUNCTION_NAME set, as Lambda sets it (the handler warms its clients during init);",
        "   times are measured inside a fresh interpreter, around the handler module's import (its init);",
        "   the '+ first request' rows add the first request (the client was created and warmed in init) against",
        "   moto's server on loopback, beside the baseline's init plus one GetItem of the same item.",
        "b: each route called once with events/<module>.json against moto in process; target = the access",
        "   pattern's minimum (1 request for a read, 1 write for a write, +1 UpdateItem for an integer id;",
        "   where the pattern must read first, the minimum stated beside it with its reason).",
        "c, e: moto in process; d, g, h: the local stack (moto server on loopback, handler worker processes).",
        "d: each local-stack load beside raw boto3 making the request's recorded DynamoDB calls straight to the",
        "   stack's moto (8 threads, a client each), the two alternating; ratio = local req/s / raw req/s.",
        "f: moto in process; capacity units from the items moto holds before and after each request (see",
        "   bench/scale_model.py for the sampling, the population and the prices).",
        "",
    ]
    text = "\n".join(header) + format_table(figures) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")
    print(text)
    if len(selected) == len(SECTIONS):
        RESULTS.write_text(text)
        print(f"saved to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
