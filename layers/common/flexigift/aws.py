"""boto3 clients from cached getters. Outside Lambda nothing is created at import time, so tests can start
moto first; inside Lambda (its runtime says so: AWS_LAMBDA_FUNCTION_NAME) a handler module warms the clients
it uses during init (`warm`), which runs before the first request and is what SnapStart snapshots; an
after-restore hook (`on_restore`) recreates them and reseeds what is random."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

_CREATING = threading.Lock()  # a boto3 Session is not thread-safe; the clients it makes are


@lru_cache(maxsize=1)
def _session() -> Any:
    """One boto3 Session for every client of the process: each Session loads and resolves its own data
    (endpoints, partitions, credentials), about 50 ms of a cold start per client made from a new one."""
    import boto3  # imported on first use: keeps cold starts short

    return boto3.session.Session()


# Connections a client keeps open: as many requests as a sharded listing's page sends at once
# (store.table.side_by_side); botocore's default, 10, would open and discard the others' each time.
MAX_POOL_CONNECTIONS = 16


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10,
                    max_pool_connections=MAX_POOL_CONNECTIONS)
    with _CREATING:
        return _session().client(service, config=config)


def dynamodb() -> Any:
    return client("dynamodb")


def reset_clients() -> None:
    """Forget cached clients, settings, reserved id blocks and cached reads (tests switch backends between
    cases; a SnapStart restore starts in another environment)."""
    from flexigift.settings import get_settings
    from flexigift.store.table import id_blocks, read_cache

    client.cache_clear()
    _session.cache_clear()  # its credentials too: a restored snapshot must not reuse the ones it was taken with
    get_settings.cache_clear()
    id_blocks.forget()
    read_cache.forget()


def in_lambda() -> bool:
    """Inside an AWS Lambda execution environment (never in tests, which start moto first)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


_WARMED: list[str] = []


def warm(*services: str) -> None:
    """In Lambda only: create the clients a function uses and take one DynamoDB request through botocore's
    whole pipeline (serialise, resolve the endpoint, sign, parse) answered without the network, so the first
    real request pays for none of it; fill the abstract base classes' subclass caches that botocore's and
    boto3's isinstance checks (Mapping, Sequence...) would otherwise fill on the first request by walking
    every registered subclass (Powertools' event classes among them). Elsewhere: nothing."""
    if not in_lambda():
        return
    _fill_abc_caches()
    for service in services:
        created = client(service)
        if service == "dynamodb":
            _one_request_without_network(created)
        if service not in _WARMED:
            _WARMED.append(service)
    _end_of_init()


def _end_of_init() -> None:
    """Init is over: what it made stays for the environment's life, so collections skip it from now on, and
    the collector paused for init (flexigift/__init__.py) runs again."""
    import gc

    gc.freeze()
    gc.enable()


def _fill_abc_caches() -> None:
    from collections import abc
    from decimal import Decimal

    bases = (abc.Mapping, abc.MutableMapping, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet,
             abc.Collection, abc.Iterable, abc.Sized, abc.Container, abc.Hashable)
    for kind in (str, bytes, bytearray, int, float, bool, Decimal, list, tuple, set, frozenset, dict, type(None)):
        for base in bases:
            issubclass(kind, base)


class _Body:
    def stream(self, **_: Any) -> Any:
        yield b"{}"


def _one_request_without_network(dynamo: Any) -> None:
    from botocore.awsrequest import AWSResponse

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, _Body())

    event = "before-send.dynamodb.GetItem"
    dynamo.meta.events.register(event, answer)
    try:
        dynamo.get_item(TableName="flexigift-warm-up", Key={"PK": {"S": "warm-up"}, "SK": {"S": "warm-up"}})
    finally:
        dynamo.meta.events.unregister(event, answer)


def on_restore() -> None:
    """SnapStart's after-restore hook: the snapshot's clients (their connections, credentials) and random
    state belong to the environment it was taken in; start afresh and warm again."""
    import random

    random.seed(os.urandom(32))
    services = list(_WARMED)
    reset_clients()
    warm(*services)


def register_restore_hook() -> None:
    """With SnapStart, Lambda's Python runtime provides snapshot_restore_py; elsewhere there is none."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return
    register_after_restore(on_restore)
