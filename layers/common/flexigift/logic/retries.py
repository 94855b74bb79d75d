"""Re-planning after a lost race: a money movement reads, plans, and commits one conditional transaction; if
anything it read changed meanwhile, the transaction writes nothing and the use case plans again from fresh
reads, with jittered backoff, within a bounded time."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from flexigift.errors import Conflict

# Within this budget (the function's timeout is 10 s). A busy card sees one winner per round, so the budget
# is generous.
RETRY_SECONDS = 6.0
MAX_ATTEMPTS = 60
BACKOFF_FIRST, BACKOFF_CAP = 0.005, 0.1


def attempts(what: str, nothing_done: str) -> Iterator[int]:
    """Attempt numbers, sleeping with full jitter between them; Conflict when the budget is spent."""
    deadline = time.monotonic() + RETRY_SECONDS
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            if time.monotonic() >= deadline:
                break
            time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** attempt)))  # noqa: S311  # nosec B311  # retry jitter, not a secret
        yield attempt
    raise Conflict(f"The gift cards kept changing under this {what}; {nothing_done}. "
                   "Retry with the same Idempotency-Key")
