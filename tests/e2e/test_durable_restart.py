"""Durable local data (local/persistence.py), over HTTP: 8 writers register users and pay from their own cards
while the whole stack (its process group: the gateway, moto, the Lambda workers) is killed with SIGKILL; a new
stack on the same state directory then has every write that was acknowledged, each payment's key still
replays its own payment, every card's ledger sums to its balance, and a reward code encrypted with KMS before
the crash decrypts again for a resend (the key material survived), its first email still sent once."""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from local.launch import StackProcess

pytestmark = pytest.mark.e2e
D = Decimal
WRITERS = 8
START_BALANCE = 1000
WRITE_SECONDS = 6.0


def _headers(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": key, "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def _ok(url: str, key: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, url + path, json=body, headers=_headers(key), timeout=30)
    assert response.status_code in (200, 201), (path, response.status_code, response.text)
    return response.json(parse_float=D)


def _emails_to(url: str, address: str) -> list[dict[str, Any]]:
    outbox = requests.get(url + "/_local/outbox", timeout=30).json()
    return [{k: e[k] for k in ("to", "subject", "text")} for e in outbox if address in e["to"]]


def _code(email: dict[str, Any]) -> str:
    found = re.search(r"Code:\s+(\S+)", email["text"])
    return found.group(1) if found else ""


def _writer(url: str, key: str, tag: str, n: int, stop: threading.Event, acked: dict[str, list]) -> None:
    """Until the stack dies: a new user, then a payment of 1.00 from this writer's card; each 201 recorded."""
    basket = {"user_id": f"payer-{tag}-{n}", "items": [{"product_id": f"one-{tag}", "quantity": 1}]}
    with requests.Session() as http:
        i = 0
        while not stop.is_set():
            i += 1
            user = {"user_id": f"w{n}-{i}-{tag}", "amazon_id": f"amz-w{n}-{i}-{tag}", "name": "Durable Writer",
                    "email": f"w{n}-{i}-{tag}@example.com"}
            pay_key = f"pay-{tag}-{n}-{i}"
            try:
                created = http.post(url + "/users", json=user, headers=_headers(key), timeout=30)
                if created.status_code == 201:
                    acked["users"].append((created.json()["id"], user["user_id"]))
                paid = http.post(url + "/payments", json=basket, headers=_headers(key, pay_key), timeout=30)
                if paid.status_code == 201:
                    acked["payments"].append((pay_key, paid.json()["id"], n))
            except requests.RequestException:
                return  # the stack is gone


def test_acknowledged_writes_survive_kill_9_of_the_whole_stack(tmp_path: Path):
    key = "fgk_e2e_" + secrets.token_urlsafe(24)
    tag = uuid.uuid4().hex[:8]
    stack = StackProcess(key, tmp_path / "state", tmp_path / "stack.log")
    url = stack.start(timeout=90)
    try:
        issuer = f"Durable{tag}"
        _ok(url, key, "POST", "/products", {"product_id": f"one-{tag}", "name": "One", "price": "1.00",
                                            "eligible_issuer": issuer})
        cards = []
        for n in range(WRITERS):
            payer = {"user_id": f"payer-{tag}-{n}", "amazon_id": f"amz-payer-{tag}-{n}", "name": "Payer",
                     "email": f"payer-{tag}-{n}@example.com"}
            created = _ok(url, key, "POST", "/users", payer)
            card = _ok(url, key, "POST", "/gift_cards", {"card_id": f"card-{tag}-{n}", "user_id": payer["user_id"],
                                                         "issuer": issuer, "balance": START_BALANCE,
                                                         "expiry_date": "2035-12-31"})
            _ok(url, key, "PUT", f"/users/{created['id']}", {**payer, "gift_cards": [card["card_id"]]})
            cards.append(card)

        # a reward emailed before the crash: its code is kept as KMS ciphertext, which must still decrypt after
        order = _ok(url, key, "POST", "/rewards/order", {"reward_id": 27234, "amount": 25,
                                                         "delivery_email": f"durable-{tag}@example.com"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _emails_to(url, f"durable-{tag}@example.com"):
            time.sleep(0.3)
        [first_email] = _emails_to(url, f"durable-{tag}@example.com")

        acked: dict[str, list] = {"users": [], "payments": []}
        stop = threading.Event()
        writers = [threading.Thread(target=_writer, args=(url, key, tag, n, stop, acked), daemon=True)
                   for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        time.sleep(WRITE_SECONDS)
        stack.kill_all()  # mid-flight: requests in progress die with it, unanswered
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
        assert len(acked["users"]) >= WRITERS and len(acked["payments"]) >= WRITERS, acked

        started = time.monotonic()
        url = stack.start(timeout=90)
        print(f"\nrestart after kill -9: healthy in {time.monotonic() - started:.1f}s; "
              f"{len(acked['users'])} users and {len(acked['payments'])} payments were acknowledged")

        with requests.Session() as http:
            for user_id, name in acked["users"]:
                found = http.get(f"{url}/users/{user_id}", headers=_headers(key), timeout=30)
                assert found.status_code == 200 and found.json()["user_id"] == name, (user_id, found.text)
            for _key, payment_id, _n in acked["payments"]:
                found = http.get(f"{url}/payments/{payment_id}", headers=_headers(key), timeout=30)
                assert found.status_code == 200 and D(found.json()["amount"]) == 1, (payment_id, found.text)
            # exactly once across the restart: each acknowledged key replays its own payment
            for pay_key, payment_id, n in acked["payments"][:: max(1, len(acked["payments"]) // 16)]:
                basket = {"user_id": f"payer-{tag}-{n}", "items": [{"product_id": f"one-{tag}", "quantity": 1}]}
                replay = http.post(f"{url}/payments", json=basket, headers=_headers(key, pay_key), timeout=30)
                assert replay.status_code == 201 and replay.json()["id"] == payment_id, replay.text

        # the email sent before the crash is still in the outbox, once; a resend decrypts the same code
        assert _emails_to(url, f"durable-{tag}@example.com") == [first_email]
        resent = requests.post(f"{url}/rewards/orders/{order['order_id']}/resend", timeout=30,
                               headers=_headers(key, f"resend-{tag}"))
        assert resent.status_code == 202, resent.text  # accepted: the email leaves through the outbox
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_emails_to(url, f"durable-{tag}@example.com")) < 2:
            time.sleep(0.3)
        emails = _emails_to(url, f"durable-{tag}@example.com")
        assert len(emails) == 2 and _code(emails[1]) == _code(first_email) != "", emails

        acknowledged_per_card = [sum(1 for p in acked["payments"] if p[2] == n) for n in range(WRITERS)]
        for n, card in enumerate(cards):
            balance = D(_ok(url, key, "GET", f"/gift_cards/{card['id']}")["balance"])
            entries = _ok(url, key, "GET", f"/gift_cards/{card['id']}/activities?limit=100")
            redeemed = sum((-D(e["amount"]) for e in entries if e["type"] == "REDEEM"), D(0))
            assert sum((D(e["amount"]) for e in entries), D(0)) == balance, entries  # the ledger reconciles
            assert balance == START_BALANCE - redeemed
            # a payment killed in flight may have committed unanswered; an answered one always did
            assert redeemed >= acknowledged_per_card[n], (n, redeemed, acknowledged_per_card[n])
    finally:
        stack.stop()
