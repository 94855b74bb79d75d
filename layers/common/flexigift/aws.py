"""boto3 clients from cached getters: nothing is created at import time, so tests can start moto first
and a cold start only pays for the clients a request uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    import boto3  # imported on first use: keeps cold starts short
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session().client(service, config=config)


def dynamodb() -> Any:
    return client("dynamodb")


def reset_clients() -> None:
    """Forget cached clients, settings and reserved id blocks (tests switch backends between cases)."""
    from flexigift.settings import get_settings
    from flexigift.store.table import id_blocks, read_cache

    client.cache_clear()
    get_settings.cache_clear()
    id_blocks.forget()
    read_cache.forget()
