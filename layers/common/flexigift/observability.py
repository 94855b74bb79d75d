"""Logger, metrics and tracer singletons (Powertools). Configured by POWERTOOLS_* environment variables.

What is logged: identifiers (order ids, key ids, payment ids), counts and outcomes. Never a reward code,
PIN or API key; an email address only through mask_email, and free text that may quote one (SES's error
messages do) only through redact_emails."""

from __future__ import annotations

import re
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.tracing.tracer import Tracer


class Untraced:
    """The tracer when tracing is off. Powertools' Tracer imports the X-Ray SDK even when it is disabled
    (to switch the SDK off), which costs a cold start about 150 ms for nothing; this stands in for it with
    the same decorators, which return the function untouched."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: Callable | None = None, **_options: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda function: function)

    def capture_method(self, method: Callable | None = None, **_options: Any) -> Any:
        return method if method is not None else (lambda function: function)

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing to annotate when nothing is traced."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Nothing to record when nothing is traced."""


def tracing_enabled() -> bool:
    """Powertools' own rule: on in Lambda unless POWERTOOLS_TRACE_DISABLED is true; off under SAM local,
    Chalice and anywhere outside Lambda (the local stack, tests, benchmarks)."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service="flexigift")
metrics = Metrics(namespace="Flexigift", service="flexigift")
tracer: Tracer | Untraced = Tracer(service="flexigift") if tracing_enabled() else Untraced()

_EMAIL = re.compile(r"[^@\s<>\"'(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_email(email: str | None) -> str:
    """j***@example.com: enough to recognise an address in a log, not enough to harvest it."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def redact_emails(text: str) -> str:
    """Free text (an error message) with every email address in it masked."""
    return _EMAIL.sub(lambda match: mask_email(match.group(0)), text)
