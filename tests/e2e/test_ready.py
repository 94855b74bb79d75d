"""Ready means ready, over HTTP against a stack of its own on a known port, polled from the instant it is
launched: until every service is up and the first catalog refresh has run, the API answers 503 with
Retry-After (or nothing listens yet); its first real answer already has the whole sample catalog. A client
that stalls in the middle of its headers is disconnected after the read timeout."""

from __future__ import annotations

import json
import secrets
import socket
import time
from pathlib import Path

import pytest
import requests

from local.launch import StackProcess
from local.template import ROOT

pytestmark = pytest.mark.e2e
READ_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_first_answer_has_the_whole_catalog_and_a_stalled_client_is_cut_off(tmp_path: Path):
    key = "fgk_e2e_" + secrets.token_urlsafe(24)
    port = _free_port()
    stack = StackProcess(key, tmp_path / "state", tmp_path / "stack.log", port=port,
                         env={"FLEXIGIFT_LOCAL_READ_TIMEOUT": str(READ_TIMEOUT)})
    url = f"http://127.0.0.1:{port}"
    feed = {item["rewards_id"] for item in json.loads((ROOT / "feeds" / "catalog.json").read_text())["rewards"]}
    stack.launch()
    try:
        early, deadline = [], time.monotonic() + 90
        with requests.Session() as http:
            while time.monotonic() < deadline:
                assert stack.process is not None and stack.process.poll() is None, "the stack exited"
                try:
                    answer = http.get(f"{url}/rewards/catalog", headers={"Authorization": key}, timeout=30)
                except requests.ConnectionError:
                    time.sleep(0.05)  # not listening yet
                    continue
                if answer.status_code != 503:
                    break
                assert answer.headers.get("Retry-After") and answer.json()["error"]["code"] == "starting"
                early.append(answer)
                time.sleep(0.05)
            else:
                pytest.fail("the stack never answered")
        assert answer.status_code == 200, answer.text
        first = answer.json()["catalog"]
        # the whole catalog: the same as after a refresh run now, on purpose, to the end
        refresh = requests.post(f"{url}/_local/schedules/RefreshRewardsCatalogFunction", timeout=60)
        assert refresh.status_code == 200, refresh.text
        after = requests.get(f"{url}/rewards/catalog", headers={"Authorization": key}, timeout=30).json()["catalog"]
        assert first == after and {item["rewards_id"] for item in first} <= feed and len(first) > 10
        assert early, "the port never answered 503 while starting: this test saw nothing of the start"

        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(b"GET /rewards/catalog HTTP/1.1\r\nHost: local\r\nAuthoriz")
            started = time.monotonic()
            assert stalled.recv(1024) == b""  # closed by the gateway, nothing answered
            assert READ_TIMEOUT - 0.5 <= time.monotonic() - started < READ_TIMEOUT + 5
    finally:
        stack.stop()
