"""Clients in Lambda's init (flexigift.aws.warm) and after a SnapStart restore (on_restore): created and
warmed only where Lambda's runtime says it is Lambda, never in tests (which start moto first), and with no
network call (the warm-up request is answered inside botocore)."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys

import pytest

from flexigift import aws
from local import lambda_runtime, template


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("TABLE_NAME", "flexigift-unit")
    monkeypatch.setattr(aws, "_WARMED", [])
    aws.reset_clients()
    yield
    aws.reset_clients()
    gc.unfreeze()  # warm() froze the test process's objects, as it freezes a function's init


def test_outside_lambda_warming_creates_no_client(fresh, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    aws.warm("dynamodb")
    assert aws.client.cache_info().currsize == 0 and aws._WARMED == []


def test_in_lambda_init_creates_the_client_and_sends_one_request_without_the_network(fresh, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "flexigift-GetUserFunction")
    sent = []
    import botocore.httpsession

    class Sent(Exception):
        pass

    def send(self, request):
        sent.append(request)
        raise Sent

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)
    aws.warm("dynamodb")
    assert aws.client.cache_info().currsize == 1 and aws._WARMED == ["dynamodb"]
    assert sent == []  # answered inside botocore, never sent
    # and the answering hook is gone: the application's own first request goes to DynamoDB
    with pytest.raises(Sent):
        aws.dynamodb().get_item(TableName="flexigift-unit", Key={"PK": {"S": "x"}, "SK": {"S": "x"}})
    assert len(sent) == 1


def test_after_a_restore_clients_are_new_and_randomness_is_reseeded(fresh, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "flexigift-GetUserFunction")
    aws.warm("dynamodb")
    before = aws.dynamodb()
    random.seed(7)
    expected_without_reseed = random.Random(7).random()
    aws.on_restore()
    assert aws.dynamodb() is not before and aws._WARMED == ["dynamodb"]
    assert random.random() != expected_without_reseed


def test_a_functions_clients_come_from_one_session_which_a_restore_replaces(fresh, monkeypatch):
    # Given a function that uses three services, warmed in Lambda's init
    import boto3.session

    made = []

    class CountedSession(boto3.session.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(boto3.session, "Session", CountedSession)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "flexigift-DeliverRewardEmailsFunction")
    aws.warm("dynamodb", "sqs", "kms")
    session = aws._session()
    # Then one session made the three clients (a new session per client costs ~50 ms of the init)
    assert made == [session]
    assert {aws.client(s).meta.service_model.service_name for s in ("dynamodb", "sqs", "kms")} == {"dynamodb", "sqs", "kms"}
    assert made == [session] and aws.client("sqs") is aws.client("sqs")
    # When a SnapStart restore happens, the session (its credentials) is made afresh with the clients
    aws.on_restore()
    assert len(made) == 2 and aws._session() is made[1] is not session
    assert aws._WARMED == ["dynamodb", "sqs", "kms"]


GC_PROBE = """
import gc, importlib, json, sys
paths, module = json.loads(sys.argv[1])
sys.path[:0] = paths
importlib.import_module(module)
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("fn", sorted(template.functions().values(), key=lambda f: f.module), ids=lambda f: f.module)
def test_every_function_ends_its_init_with_the_garbage_collector_on_and_inits_objects_frozen(fn):
    """Given a function imported as Lambda imports it (a fresh interpreter, AWS_LAMBDA_FUNCTION_NAME set: the
    collector is paused while flexigift loads and clients are made), when its module's init is over, then the
    cyclic garbage collector runs again and what init made is frozen: no function may leave it paused for the
    environment's life."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    env.pop("PYTHONPATH", None)
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "TABLE_NAME": "flexigift-unit", "POWERTOOLS_TRACE_DISABLED": "true",
                "AWS_LAMBDA_FUNCTION_NAME": f"flexigift-{fn.logical_id}"})
    argument = json.dumps([lambda_runtime.code_paths([fn]), fn.module])
    out = subprocess.run([sys.executable, "-c", GC_PROBE, argument], env=env, cwd="/", capture_output=True,  # noqa: S603
                         text=True, check=True).stdout
    state = json.loads(out.strip().splitlines()[-1])
    assert state["enabled"] is True
    assert state["frozen"] > 10_000  # boto3 and the function's modules
