"""Figure d: the local stack (`python -m local.stack`: the gateway, the handlers in worker processes, moto
on loopback) under 8 concurrent clients, on GET /users/{id} and on POST /payments. Figures, no target:
they measure this machine and the local stand-ins, not Lambda and DynamoDB."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests

from bench.report import Figure, ms, percentile
from local.launch import launched_stack

CLIENTS = 8
DURATION = float(os.environ.get("BENCH_STACK_SECONDS", "10"))
STARTUP_TIMEOUT = 90.0
USER = {"user_id": "bench-user", "amazon_id": "amzbench", "name": "Bench User", "email": "bench@example.com"}
CARD = {"card_id": "bench-card", "user_id": "bench-user", "issuer": "Kohls", "balance": 1_000_000,
        "expiry_date": "2030-12-31"}
PRODUCT = {"product_id": "bench-penny", "name": "Penny item", "price": "0.01", "eligible_issuer": "Kohls"}
BASKET = {"user_id": "bench-user", "items": [{"product_id": "bench-penny", "quantity": 1}]}


@contextmanager
def running_stack(api_key: str) -> Iterator[str]:
    with launched_stack(api_key, log_level="WARNING", startup_timeout=STARTUP_TIMEOUT) as base_url:
        yield base_url


def _seed(url: str, headers: dict[str, str]) -> int:
    def post(path: str, body: dict) -> dict:
        response = requests.post(url + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 201, (path, response.status_code, response.text)
        return response.json()

    user = post("/users", USER)["id"]
    post("/gift_cards", CARD)
    linked = requests.put(f"{url}/users/{user}", json={**USER, "gift_cards": [CARD["card_id"]]}, headers=headers,
                          timeout=30)
    assert linked.status_code == 200, linked.text
    post("/products", PRODUCT)
    return user


def _load(send: Callable[[requests.Session], requests.Response]) -> tuple[int, int, list[float]]:
    """CLIENTS threads, each with its own session, sending for DURATION seconds."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def client() -> None:
        mine, failed = [], 0
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    ok = 200 <= send(session).status_code < 300
                except requests.RequestException:
                    ok = False
                mine.append(time.perf_counter() - start)
                failed += not ok
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), failures[0], latencies


def run() -> list[Figure]:
    api_key = "fgk_bench_" + secrets.token_urlsafe(24)
    headers = {"Authorization": api_key, "Content-Type": "application/json"}
    figures = []
    with running_stack(api_key) as url:
        user = _seed(url, headers)
        cases = [
            ("GET /users/{id}", lambda s: s.get(f"{url}/users/{user}", headers=headers, timeout=30)),
            ("POST /payments", lambda s: s.post(f"{url}/payments", json=BASKET, timeout=30,
                                                headers={**headers, "Idempotency-Key": str(uuid.uuid4())})),
        ]
        for label, send in cases:
            with requests.Session() as session:  # warm the workers first
                for _ in range(5):
                    send(session)
            count, failed, latencies = _load(send)
            figures.append(Figure(
                "d", f"local stack {label}, {CLIENTS} clients",
                f"{count / DURATION:.1f} req/s, p50 {ms(percentile(latencies, 50))}, "
                f"p99 {ms(percentile(latencies, 99))}", "(figures only)", None,
                f"{count} requests in {DURATION:.0f} s, {failed} not 2xx"))
    return figures
