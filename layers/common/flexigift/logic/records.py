"""Mechanics shared by the wallet's use cases: loading, merging a PATCH, optimistic-lock retries, and
turning a cancelled transaction into the domain error its failed condition stands for."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, TypeVar

from flexigift.errors import Conflict, FlexigiftError, NotFound, ValidationFailed, field_error
from flexigift.shapes import BaseModel
from flexigift.store import wallet
from flexigift.store.table import Transaction, TransactionCancelled

T = TypeVar("T")
ATTEMPTS = 4


class StaleRecord(Exception):
    """The record changed between read and write; the use case is retried from a fresh read."""


def load(program_id: str, kind: wallet.Kind, numeric_id: int, noun: str) -> tuple[dict[str, Any], int]:
    found = wallet.get(program_id, kind, numeric_id)
    if found is None:
        raise NotFound(f"No {noun} with id {numeric_id}")
    return found


def check_body_id(body: BaseModel, numeric_id: int) -> None:
    body_id = getattr(body, "id", None)
    if body_id is not None and body_id != numeric_id:
        raise ValidationFailed(f"id {body_id} in the body does not match id {numeric_id} in the path",
                               fields=[field_error("id", "must match the id in the path", "mismatch")])


def patch_changes(patch: BaseModel, required: tuple[str, ...]) -> dict[str, Any]:
    """The fields a PATCH sends; a required field cannot be set to null, and something must change."""
    changes = patch.model_dump(mode="python", exclude_unset=True, exclude={"id"})
    nulls = [name for name in required if name in changes and changes[name] is None]
    if nulls:
        raise ValidationFailed("Required fields cannot be cleared: " + ", ".join(nulls),
                               fields=[field_error(n, "may not be null", "null") for n in nulls])
    if not changes:
        raise ValidationFailed("The PATCH body changes nothing: send at least one field",
                               fields=[field_error("body", "no fields to change", "empty")])
    return changes


def checked_patch(program_id: str, kind: wallet.Kind, noun: str, numeric_id: int, patch: BaseModel,
                  required: tuple[str, ...]) -> dict[str, Any]:
    """patch_changes, keeping the answer's precedence: an unknown id is 404 even when the PATCH is also
    invalid (the record is read only in that case)."""
    try:
        return patch_changes(patch, required)
    except ValidationFailed:
        load(program_id, kind, numeric_id, noun)
        raise


def merged(current: dict[str, Any], patch: BaseModel, required: tuple[str, ...]) -> dict[str, Any]:
    """Apply a PATCH: only the fields sent change; a required field cannot be set to null."""
    return {**current, **patch_changes(patch, required)}


Save = Callable[[int, dict[str, Any], int, dict[str, Any]], T]


@dataclass
class InPlace(Generic[T]):
    """How a use case changes a record with one conditional UpdateItem when nothing else must change with
    it. `plan` gives, for the new fields, the fields to set and what the stored record must still hold for
    the shortcut to be right (None: this request needs the general path); `answer` turns the record as
    written into the response."""

    plan: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]] | None]
    answer: Callable[[dict[str, Any]], T]


def _write(program_id: str, kind: wallet.Kind, noun: str, numeric_id: int, fields: dict[str, Any], in_place: InPlace[T] | None,
           general: Callable[[tuple[dict[str, Any], int] | None], T]) -> T:
    """Try the one-request update; when the stored record does not allow it, run the general
    read-then-transaction path, starting from the record the failed condition returned."""
    if in_place is not None:
        shortcut = in_place.plan(fields)
        if shortcut is not None:
            result = wallet.update_in_place(program_id, kind, numeric_id, *shortcut)
            if not isinstance(result, wallet.Changed):
                return in_place.answer(result)
            if result.current is None:
                raise NotFound(f"No {noun} with id {numeric_id}")
            return general(result.current)
    return general(None)


def replace_record(program_id: str, kind: wallet.Kind, noun: str, numeric_id: int, body: BaseModel, save: Save[T],
                   in_place: InPlace[T] | None = None) -> T:
    """PUT: one conditional UpdateItem when `in_place` allows it; otherwise read the record and hand
    `save` the whole new body, retried if the record changes meanwhile."""
    check_body_id(body, numeric_id)
    new = body.model_dump(mode="python", exclude={"id"})

    def general(first: tuple[dict[str, Any], int] | None) -> T:
        def attempt() -> T:
            nonlocal first
            current, version = first or load(program_id, kind, numeric_id, noun)
            first = None
            return save(numeric_id, current, version, dict(new))

        return with_retries(attempt)

    return _write(program_id, kind, noun, numeric_id, new, in_place, general)


def update_record(program_id: str, kind: wallet.Kind, noun: str, numeric_id: int, patch: BaseModel, required: tuple[str, ...],
                  save: Save[T], in_place: InPlace[T] | None = None) -> T:
    """PATCH: one conditional UpdateItem of the fields sent when `in_place` allows it; otherwise read the
    record, merge the fields sent and hand the result to `save`, retried likewise."""
    check_body_id(patch, numeric_id)
    changes = checked_patch(program_id, kind, noun, numeric_id, patch, required)

    def general(first: tuple[dict[str, Any], int] | None) -> T:
        def attempt() -> T:
            nonlocal first
            current, version = first or load(program_id, kind, numeric_id, noun)
            first = None
            return save(numeric_id, current, version, {**current, **changes})

        return with_retries(attempt)

    return _write(program_id, kind, noun, numeric_id, changes, in_place, general)


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
        tx.retry = attempt
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
