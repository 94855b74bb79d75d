"""Turning cancelled transactions into domain outcomes."""

import pytest

from flexigift.errors import Conflict, ValidationFailed
from flexigift.logic import records
from flexigift.store.table import TransactionCancelled


class ScriptedTransaction:
    """Stands in for store.table.Transaction: each commit pops the next outcome."""

    def __init__(self, labels, outcomes):
        self.labels, self.outcomes, self.commits = labels, list(outcomes), 0

    def commit(self):
        self.commits += 1
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise TransactionCancelled(outcome)

    def failed_labels(self, cancelled):
        return [label for label, reason in zip(self.labels, cancelled.reasons, strict=True) if reason == "ConditionalCheckFailed"]


def test_contention_alone_is_retried_until_it_commits(monkeypatch):
    monkeypatch.setattr(records.time, "sleep", lambda _s: None)
    tx = ScriptedTransaction(["record", "unique"], [["TransactionConflict", "None"], ["None", "TransactionConflict"], None])
    records.commit(tx, {})
    assert tx.commits == 3


def test_contention_that_never_clears_is_a_409(monkeypatch):
    monkeypatch.setattr(records.time, "sleep", lambda _s: None)
    tx = ScriptedTransaction(["record"], [["TransactionConflict"]] * records.ATTEMPTS)
    with pytest.raises(Conflict):
        records.commit(tx, {})
    assert tx.commits == records.ATTEMPTS


def test_a_failed_condition_raises_its_mapped_error_without_retrying():
    tx = ScriptedTransaction(["record", "unique"], [["None", "ConditionalCheckFailed"]])
    with pytest.raises(ValidationFailed):
        records.commit(tx, {"unique": ValidationFailed("taken")})
    assert tx.commits == 1


def test_a_lost_optimistic_lock_is_stale():
    tx = ScriptedTransaction(["record", "card:x"], [["ConditionalCheckFailed", "None"]])
    with pytest.raises(records.StaleRecord):
        records.commit(tx, {"card": ValidationFailed("card")})


def test_with_retries_gives_up_with_a_409_after_repeated_staleness():
    calls = []

    def always_stale():
        calls.append(1)
        raise records.StaleRecord()

    with pytest.raises(Conflict):
        records.with_retries(always_stale)
    assert len(calls) == records.ATTEMPTS
