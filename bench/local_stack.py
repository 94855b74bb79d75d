"""Figure d: the local stack (`python -m local.stack`: the gateway, the handlers in worker processes, moto
on loopback) under 8 concurrent clients, on GET /users/{id} and on POST /payments, each beside its raw
figure measured in the same run: boto3 making the same DynamoDB calls straight to the stack's own moto,
from 8 threads, for as long. The two alternate (local, raw, local, raw), so that a change in the machine's
load falls on both.

The calls replayed are recorded, not written out here: the bench runs the same request once through an
in-process copy of the gateway and the handlers (the same code the stack's workers run, the functions'
environment as the stack gives it) against the stack's moto, and records every DynamoDB call's parameters
(botocore's provide-client-params event). A read is replayed as recorded. A payment's calls are replayed
with what must differ for a second payment to succeed made fresh (its Idempotency-Key, payment and event
ids, the transaction's ClientRequestToken) and the card's version taken from the replay's own read of the
card, as the handler takes it; a replay DynamoDB refuses is counted as a failure, beside the figure."""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bench.report import Figure, ms, percentile, ratio
from local.launch import launched_stack

CLIENTS = 8
CARDS = 8  # the payments load: client i pays with user i's card i, so the 8 clients never share a card
DURATION = float(os.environ.get("BENCH_STACK_SECONDS", "10"))
ROUNDS = 2  # local and raw alternate, each for DURATION / ROUNDS at a time
WARM_SECONDS = 2.0  # each load runs this long before the measured rounds (not counted)
STARTUP_TIMEOUT = 90.0
GET_USER_TARGET, GET_USER_P99_TARGET, PAYMENTS_TARGET = 0.6, 0.100, 0.5
USER = {"user_id": "bench-user", "amazon_id": "amzbench", "name": "Bench User", "email": "bench@example.com"}
PRODUCT = {"product_id": "bench-penny", "name": "Penny item", "price": "0.01", "eligible_issuer": "Kohls"}
STAGE_PARAMETERS = {"StageName": "local", "LogLevel": "WARNING"}
_RANDOM_ID = re.compile(r"\b(?:pay|evt)_[0-9a-f]{24}\b")

Send = Callable[[], bool]  # one request (or its raw calls); True when it succeeded


@contextmanager
def running_stack(api_key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The stack's URL and its state file (its moto endpoint, the resources' physical names)."""
    with tempfile.TemporaryDirectory(prefix="flexigift-bench-d-") as tmp, \
            launched_stack(api_key, log_level="WARNING", startup_timeout=STARTUP_TIMEOUT,
                           state_dir=Path(tmp) / "state") as base_url:
        yield base_url, json.loads((Path(tmp) / "state" / "state.json").read_text())


# --- seeding --------------------------------------------------------------------------------------------


def _seed(url: str, headers: dict[str, str]) -> list[str]:
    """One product, and CARDS users each with one linked card; the users' ids."""
    def post(path: str, body: dict) -> dict:
        response = requests.post(url + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 201, (path, response.status_code, response.text)
        return response.json()

    post("/products", PRODUCT)
    users = []
    for n in range(CARDS):
        user = {**USER, "user_id": f"bench-user-{n}", "amazon_id": f"amzbench{n}", "email": f"bench{n}@example.com"}
        user_id = post("/users", user)["id"]
        post("/gift_cards", {"card_id": f"bench-card-{n}", "user_id": user["user_id"], "issuer": "Kohls",
                             "balance": 1_000_000, "expiry_date": "2030-12-31"})
        linked = requests.put(f"{url}/users/{user_id}", json={**user, "gift_cards": [f"bench-card-{n}"]},
                              headers=headers, timeout=30)
        assert linked.status_code == 200, linked.text
        users.append(user_id)
    return users


def basket(n: int) -> dict[str, Any]:
    return {"user_id": f"bench-user-{n}", "items": [{"product_id": PRODUCT["product_id"], "quantity": 1}]}


# --- recording a request's DynamoDB calls ---------------------------------------------------------------


class InProcessInvoker:
    """The gateway's invoker, running the handler in this process (the stack runs it in a worker)."""

    def invoke(self, fn: Any, event: dict[str, Any], request_id: str) -> Any:
        from local import lambda_runtime

        return lambda_runtime.invoke(fn, event, lambda_runtime.LocalLambdaContext.for_function(fn, request_id))


class Recorder:
    """The stack's request path in this process (its gateway and handlers, the stack's moto as AWS), recording
    the parameters of every DynamoDB call a request makes."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @contextmanager
    def active(self) -> Iterator[Recorder]:
        from local import lambda_runtime, template
        from local.gateway import Gateway
        from local.moto_backend import point_boto3_at

        saved = dict(os.environ)
        functions = list(template.functions().values())
        try:
            point_boto3_at(self.state["moto_endpoint"])
            lambda_runtime.apply_environment(
                lambda_runtime.union_environment(functions, self.state["physical"], STAGE_PARAMETERS))
            lambda_runtime.prepare_process(functions)  # the layer and the handlers importable, as in a worker
            from flexigift.aws import dynamodb, reset_clients

            reset_clients()
            dynamodb().meta.events.register(
                "provide-client-params.dynamodb.*",
                lambda params, model, **_: self.calls.append((model.name, copy.deepcopy(params))))
            self.gateway = Gateway(InProcessInvoker(), log=lambda _line: None)
            self.gateway.ready.set()
            yield self
        finally:
            from flexigift.aws import reset_clients

            reset_clients()
            os.environ.clear()
            os.environ.update(saved)

    def request(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any, list]:
        """(status, JSON body, the DynamoDB calls it made) of one request through the gateway."""
        from local.gateway import HttpRequest

        self.calls = []
        raw = json.dumps(body).encode() if body is not None else b""
        response = self.gateway.handle(HttpRequest(method, path, [], list(headers.items()), raw, "127.0.0.1"))
        return response.status, json.loads(response.body or b"null"), self.calls


def call_names(calls: list[tuple[str, dict[str, Any]]]) -> str:
    return ", ".join(name for name, _ in calls)


# --- replaying them with raw boto3 ----------------------------------------------------------------------


def raw_client(endpoint: str) -> Any:
    """A DynamoDB client of its own (its own connection pool), as each of the stack's workers has."""
    import boto3
    from botocore.config import Config

    from local.moto_backend import DUMMY_CREDENTIALS, REGION

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION).client("dynamodb", endpoint_url=endpoint, config=config)


def _method(client: Any, operation: str) -> Callable[..., Any]:
    names = {api: name for name, api in client.meta.method_to_api_mapping.items()}
    return getattr(client, names[operation])


def replay_reads(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> Send:
    bound = [(_method(client, name), params) for name, params in calls]

    def send() -> bool:
        for method, params in bound:
            method(**params)
        return True

    return send


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, str):
        for old, new in names.items():
            value = value.replace(old, new)
    return value


def replay_payment(client: Any, calls: list[tuple[str, dict[str, Any]]], idempotency_key: str) -> Send:
    """A recorded payment's calls, made again as a new payment: the Idempotency-Key, the payment and event
    ids and the ClientRequestToken fresh; the card's version from this replay's read of the card (the
    transaction's `:version` condition on the card, and its ledger entry's sequence, version + 1)."""
    from botocore.exceptions import ClientError

    ids = sorted(set(_RANDOM_ID.findall(json.dumps(calls, default=str))))
    bound = [(name, _method(client, name), params) for name, params in calls]

    def send() -> bool:
        names = {idempotency_key: str(uuid.uuid4()),
                 **{old: old.split("_", 1)[0] + "_" + secrets.token_hex(12) for old in ids}}
        version = None
        try:
            for name, method, params in bound:
                params = _renamed(params, names)
                if name == "TransactWriteItems":
                    params = _with_version(params, version)
                answer = method(**params)
                for items in (answer.get("Responses") or {}).values() if name == "BatchGetItem" else ():
                    for item in items:
                        if item["SK"]["S"] == "CARD":
                            version = int(item["version"]["N"])
        except ClientError:
            return False
        return True

    return send


def _with_version(params: dict[str, Any], version: int | None) -> dict[str, Any]:
    params = {**params, "ClientRequestToken": secrets.token_hex(18)}
    if version is None:
        return params
    for entry in params["TransactItems"]:
        update, put = entry.get("Update"), entry.get("Put")
        if update and update["Key"]["SK"]["S"] == "CARD":
            update["ExpressionAttributeValues"][":version"] = {"N": str(version)}
        if put and put["Item"]["SK"]["S"].startswith("ACTIVITY#"):
            put["Item"]["SK"] = {"S": f"ACTIVITY#{version + 1:012d}"}
            put["Item"]["sequence"] = {"N": str(version + 1)}
    return params


# --- the loads -------------------------------------------------------------------------------------------


class Load:
    """CLIENTS threads sending for a while; their latencies and failures add up over rounds."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failed = 0
        self.seconds = 0.0

    def run(self, senders: list[Send], seconds: float) -> None:
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def client(send: Send) -> None:
            mine, failed = [], 0
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    ok = send()
                except Exception:  # noqa: BLE001 - a failed request is counted, not fatal
                    ok = False
                mine.append(time.perf_counter() - start)
                failed += not ok
            with lock:
                self.latencies.extend(mine)
                self.failed += failed

        threads = [threading.Thread(target=client, args=(send,)) for send in senders]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.seconds += time.perf_counter() - started

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def text(self) -> str:
        return (f"{self.rate:.1f} req/s, p50 {ms(percentile(self.latencies, 50))}, "
                f"p99 {ms(percentile(self.latencies, 99))}")

    def note(self) -> str:
        return f"{len(self.latencies)} in {self.seconds:.0f} s, {self.failed} failed"


def http_senders(make: Callable[[requests.Session, int], requests.Response]) -> list[Send]:
    """One keep-alive session per client, as a browser or an SDK would hold."""
    sessions = [requests.Session() for _ in range(CLIENTS)]

    def sender(session: requests.Session, n: int) -> Send:
        return lambda: 200 <= make(session, n).status_code < 300

    return [sender(session, n) for n, session in enumerate(sessions)]


def alternate(local: list[Send], raws: list[list[Send]]) -> tuple[Load, list[Load]]:
    # Warm, all clients at once as the load runs them: every worker the load will use started with its handler
    # imported, the clients' connections open. (One client after another used to warm one worker only, so the
    # first local round also paid for starting the others, a cold start each, on the same two cores.)
    for senders in [local, *raws]:
        Load().run(senders, WARM_SECONDS)
    local_load, raw_loads = Load(), [Load() for _ in raws]
    for _ in range(ROUNDS):
        local_load.run(local, DURATION / ROUNDS)
        for load, senders in zip(raw_loads, raws, strict=True):
            load.run(senders, DURATION / ROUNDS)
    return local_load, raw_loads


def run() -> list[Figure]:
    api_key = "fgk_bench_" + secrets.token_urlsafe(24)
    headers = {"Authorization": api_key, "Content-Type": "application/json"}
    figures: list[Figure] = []
    with running_stack(api_key) as (url, state), Recorder(state).active() as recorder:
        users = _seed(url, headers)
        endpoint = state["moto_endpoint"]
        path = f"/users/{users[0]}"
        _status, _body, authorized_calls = recorder.request("GET", path, headers)  # the key's first request
        status, _body, warm_calls = recorder.request("GET", path, headers)  # as the load's requests go
        assert status == 200, status
        user_item = [c for c in warm_calls if "#USER#" in c[1].get("Key", {}).get("PK", {}).get("S", "")]
        assert len(user_item) == 1, warm_calls
        raws = [(f"the request's calls: {call_names(warm_calls)}"
                 + (" (= plain GetItem of the user item)" if warm_calls == user_item else ""), warm_calls)]
        if authorized_calls != warm_calls:  # the authorizer's decision cached for the key (API Gateway's TTL)
            raws.append((f"with the authorizer run (a key's first request in each TTL): "
                         f"{call_names(authorized_calls)}", authorized_calls))
        if warm_calls != user_item:
            raws.append(("plain GetItem of the user item", user_item))
        figures += _compare(
            "GET /users/{id}",
            http_senders(lambda s, _n: s.get(url + path, headers=headers, timeout=30)),
            raws, lambda calls: [replay_reads(raw_client(endpoint), calls) for _ in range(CLIENTS)],
            f">= {GET_USER_TARGET}x and p99 <= {ms(GET_USER_P99_TARGET)}",
            lambda r, load: r >= GET_USER_TARGET and percentile(load.latencies, 99) <= GET_USER_P99_TARGET)

        recorded = []
        for n in range(CARDS):
            key = str(uuid.uuid4())
            status, body, calls = recorder.request("POST", "/payments", {**headers, "Idempotency-Key": key}, basket(n))
            assert status == 201, (status, body)
            recorded.append((key, calls))
        figures += _compare(
            f"POST /payments ({CARDS} cards)",
            http_senders(lambda s, n: s.post(f"{url}/payments", json=basket(n % CARDS), timeout=30,
                                             headers={**headers, "Idempotency-Key": str(uuid.uuid4())})),
            [(f"a payment's calls: {call_names(recorded[0][1])}", recorded)],
            lambda rec: [replay_payment(raw_client(endpoint), rec[n % CARDS][1], rec[n % CARDS][0])
                         for n in range(CLIENTS)],
            f">= {PAYMENTS_TARGET}x", lambda r, _load: r >= PAYMENTS_TARGET)
    return figures


def _compare(label: str, local: list[Send], raws: list[tuple[str, Any]], senders: Callable[[Any], list[Send]],
             target: str, met: Callable[[float, Load], bool]) -> list[Figure]:
    local_load, raw_loads = alternate(local, [senders(calls) for _, calls in raws])
    figures = [Figure("d", f"local stack {label}, {CLIENTS} clients", local_load.text(), "", None,
                      f"requests: {local_load.note()}")]
    for (what, _calls), load in zip(raws, raw_loads, strict=True):
        figures.append(Figure("d", f"  raw boto3 to its moto, {CLIENTS} threads: {what}", load.text(), "", None,
                              f"replays: {load.note()}"))
    first = raw_loads[0]
    share = local_load.rate / first.rate
    others = "; ".join(f"{ratio(local_load.rate / load.rate)} of {what.split(':')[0]}"
                       for (what, _), load in zip(raws[1:], raw_loads[1:], strict=True))
    figures.append(Figure("d", f"{label}: local stack / raw", f"{ratio(share)}, p99 "
                          f"{ms(percentile(local_load.latencies, 99))}", target, met(share, local_load),
                          f"against the request's own calls{'; ' + others if others else ''}"))
    return figures
