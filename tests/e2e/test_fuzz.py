"""Fuzzing: schemathesis generates requests for every operation of docs/openapi.json (valid ones from the
schemas, and invalid ones: wrong types, missing fields, bad bodies, other methods) and sends them to a local
stack. Every answer must be no 5xx, with a documented status code, content type, headers and body shape.

The budget is bounded: a few examples per operation plus schemathesis' coverage phase (boundary values and
one invalid value per constraint), deterministic so that a failure reproduces. The stack is this module's
own, not the session's shared one, so the users, cards and keys the fuzzer creates cannot change what the
other end-to-end tests see (the quick start counts on fresh ids)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.openapi import SPEC_PATH
from tests.e2e.conftest import LocalStack, run_local_stack

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 10  # per operation, for the fuzzing phase; the examples and coverage phases add their own
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[LocalStack]:
    """Given a fresh local stack for the fuzzer alone."""
    with run_local_stack() as running:
        _seed(running)
        yield running


def _seed(stack: LocalStack) -> None:
    """One of each resource, with id 1, so that generated ids hit real records and their 2xx bodies are
    checked against the spec too (not only the refusals)."""
    requests_to_make = [
        ("/users", {"user_id": "fuzz-user", "amazon_id": "amz-fuzz", "name": "Fuzz", "email": "fuzz@example.com"}),
        ("/gift_cards", {"card_id": "fuzz-card", "user_id": "fuzz-user", "issuer": "Kohls", "balance": 500,
                         "expiry_date": "2099-12-31"}),
        ("/products", {"product_id": "fuzz-product", "name": "Fuzz bed", "price": "50.00", "eligible_issuer": "Kohls"}),
    ]
    for path, body in requests_to_make:
        response = requests.post(stack.url(path), json=body, headers=stack.headers(), timeout=30)
        assert response.status_code == 201, response.text
    requests.patch(stack.url("/users/1"), json={"gift_cards": ["fuzz-card"]}, headers=stack.headers(), timeout=30)
    payment = requests.post(stack.url("/payments"), json={"user_id": "fuzz-user", "items": [
        {"product_id": "fuzz-product", "quantity": 1}]}, headers={**stack.headers(), "Idempotency-Key": "fuzz-1"},
        timeout=30)
    assert payment.status_code == 201, payment.text


# Loaded eagerly: schemathesis' lazy loader (schemathesis.pytest.from_fixture) breaks on pytest 9 (it sets
# the private Function._nodeid), so the stack's URL and key are given per call instead of in the schema.
schema = schemathesis.openapi.from_path(SPEC_PATH)
schema.config.update(request_timeout=30)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx_or_an_answer_the_spec_does_not_allow(case: schemathesis.Case,
                                                                    fuzz_stack: LocalStack) -> None:
    # Given a request generated from the spec (valid or deliberately not)
    # When it is sent with the stack's bootstrap key
    # Then the answer is no server error and conforms to the spec: status, content type, headers, body
    case.call_and_validate(base_url=fuzz_stack.base_url, headers={"Authorization": fuzz_stack.api_key},
                           checks=CHECKS)
