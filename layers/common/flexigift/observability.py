"""Logger, metrics and tracer singletons (Powertools). Configured by POWERTOOLS_* environment variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="flexigift")
metrics = Metrics(namespace="Flexigift", service="flexigift")
tracer = Tracer(service="flexigift")


def mask_email(email: str | None) -> str:
    """j***@example.com: enough to recognise an address in a log, not enough to harvest it."""
    if not email or "@" not in email:
        return "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
