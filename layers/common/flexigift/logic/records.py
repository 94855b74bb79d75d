"""Mechanics shared by the wallet's use cases: loading, merging a PATCH, optimistic-lock retries, and
turning a cancelled transaction into the domain error its failed condition stands for."""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Mapping, TypeVar

from pydantic import BaseModel

from flexigift.errors import Conflict, FlexigiftError, NotFound, ValidationFailed, field_error
from flexigift.store import wallet
from flexigift.store.table import Transaction, TransactionCancelled

T = TypeVar("T")
ATTEMPTS = 4


class StaleRecord(Exception):
    """The record changed between read and write; the use case is retried from a fresh read."""


def load(kind: wallet.Kind, numeric_id: int, noun: str) -> tuple[dict[str, Any], int]:
    found = wallet.get(kind, numeric_id)
    if found is None:
        raise NotFound(f"No {noun} with id {numeric_id}")
    return found


def check_body_id(body: BaseModel, numeric_id: int) -> None:
    body_id = getattr(body, "id", None)
    if body_id is not None and body_id != numeric_id:
        raise ValidationFailed(f"id {body_id} in the body does not match id {numeric_id} in the path",
                               fields=[field_error("id", "must match the id in the path", "mismatch")])


def merged(current: dict[str, Any], patch: BaseModel, required: tuple[str, ...]) -> dict[str, Any]:
    """Apply a PATCH: only the fields sent change; a required field cannot be set to null."""
    changes = patch.model_dump(mode="python", exclude_unset=True, exclude={"id"})
    nulls = [name for name in required if name in changes and changes[name] is None]
    if nulls:
        raise ValidationFailed("Required fields cannot be cleared: " + ", ".join(nulls),
                               fields=[field_error(n, "may not be null", "null") for n in nulls])
    if not changes:
        raise ValidationFailed("The PATCH body changes nothing: send at least one field",
                               fields=[field_error("body", "no fields to change", "empty")])
    return {**current, **changes}


Save = Callable[[int, dict[str, Any], int, dict[str, Any]], T]


def replace_record(kind: wallet.Kind, noun: str, numeric_id: int, body: BaseModel, save: Save[T]) -> T:
    """PUT: read the record, hand `save` the whole new body; retried if the record changes meanwhile."""
    check_body_id(body, numeric_id)

    def attempt() -> T:
        current, version = load(kind, numeric_id, noun)
        return save(numeric_id, current, version, body.model_dump(mode="python", exclude={"id"}))

    return with_retries(attempt)


def update_record(kind: wallet.Kind, noun: str, numeric_id: int, patch: BaseModel, required: tuple[str, ...],
                  save: Save[T]) -> T:
    """PATCH: read the record, merge the fields sent, hand the result to `save`; retried likewise."""
    check_body_id(patch, numeric_id)

    def attempt() -> T:
        current, version = load(kind, numeric_id, noun)
        return save(numeric_id, current, version, merged(current, patch, required))

    return with_retries(attempt)


def with_retries(attempt: Callable[[], T]) -> T:
    """Run a read-modify-write use case again when its optimistic lock loses a race."""
    for _ in range(ATTEMPTS - 1):
        try:
            return attempt()
        except StaleRecord:
            continue
    try:
        return attempt()
    except StaleRecord:
        raise Conflict("The record kept changing under this request; try again") from None


def commit(tx: Transaction, failures: Mapping[str, FlexigiftError | type[StaleRecord]],
           stale_labels: tuple[str, ...] = ("record",)) -> None:
    """Commit; a failed condition raises the error mapped to its item's label (prefix match on
    'label:'), a lost optimistic lock raises StaleRecord. A cancellation caused only by contention with
    another transaction (no condition failed) is retried a few times with jittered backoff."""
    for attempt in range(ATTEMPTS):
        try:
            tx.commit()
            return
        except TransactionCancelled as cancelled:
            failed = tx.failed_labels(cancelled)
            for label in failed:
                key = label if label in failures else label.split(":", 1)[0]
                error = failures.get(key)
                if isinstance(error, FlexigiftError):
                    raise error from None
            if any(label.split(":", 1)[0] in stale_labels for label in failed):
                raise StaleRecord() from None
            if not cancelled.contention or attempt == ATTEMPTS - 1:
                raise Conflict("This request conflicts with a concurrent change; try again") from None
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311  # retry jitter, not a secret
