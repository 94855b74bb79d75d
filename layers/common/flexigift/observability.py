"""Logger, metrics and tracer singletons (Powertools). Configured by POWERTOOLS_* environment variables.

What is logged: identifiers (order ids, key ids, payment ids), counts and outcomes. Never a reward code,
PIN or API key; an email address only through mask_email, and free text that may quote one (SES's error
messages do) only through redact_emails."""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="flexigift")
metrics = Metrics(namespace="Flexigift", service="flexigift")
tracer = Tracer(service="flexigift")

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
