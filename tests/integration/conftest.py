"""Integration tests: the handlers, called with the events in events/, against moto (in process).
The table is created from template.yaml's definition; no Scan may happen in any request path."""

from __future__ import annotations

import os
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from flexigift.aws import reset_clients
from local import template

TABLE = "flexigift-test"


def _environment() -> dict[str, str]:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_DEV": "false", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    physical = {"Table": TABLE}
    for fn in template.functions().values():
        for name, value in fn.environment.items():
            env[name] = str(template.resolve(value, physical))
    return env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh moto account with the single table; yields a low-level DynamoDB client."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in _environment().items():
        monkeypatch.setenv(name, value)
    reset_clients()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **template.table_definition())
        operations: list[str] = []
        from flexigift.aws import dynamodb

        dynamodb().meta.events.register("before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
        client.operations = operations  # type: ignore[attr-defined]
        yield client
        assert "Scan" not in operations, "a request path used Scan"
    reset_clients()


def stored(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    from flexigift.store.table import from_attr

    item = client.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True).get("Item")
    return from_attr(item) if item else None


def all_items(client: Any) -> list[dict[str, Any]]:
    """Every item (tests only: a Scan to prove nothing was half-written)."""
    from flexigift.store.table import from_attr

    return [from_attr(i) for i in client.scan(TableName=TABLE)["Items"]]
