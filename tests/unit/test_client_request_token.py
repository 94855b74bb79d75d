"""Every TransactWriteItems carries a ClientRequestToken derived from what it writes: an SDK retry after a lost
answer resends the same items and so the same token (DynamoDB applies it at most once), while another request,
a re-plan after a lost race or our own re-send after a cancellation gets another."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flexigift.store import table
from flexigift.store.table import Transaction


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    recording = RecordingClient()
    monkeypatch.setenv("TABLE_NAME", "t")
    table.get_settings.cache_clear()
    monkeypatch.setattr(table, "dynamodb", lambda: recording)
    yield recording
    table.get_settings.cache_clear()


def _debit(amount: str, version: int = 3) -> Transaction:
    tx = Transaction()
    tx.update("card", {"PK": "P#default#CARD#1", "SK": "CARD"}, "SET balance = balance - :a", "version = :v",
              vals={"a": Decimal(amount), "v": version})
    tx.put("entry", {"PK": "P#default#CARD#1", "SK": "ACTIVITY#4", "amount": Decimal(f"-{amount}")},
           "attribute_not_exists(PK)")
    return tx


def test_the_same_items_send_the_same_token_and_other_items_another(client: RecordingClient) -> None:
    _debit("10.00").commit()
    _debit("10.00").commit()
    _debit("10.01").commit()
    _debit("10.00", version=4).commit()
    tokens = [call["ClientRequestToken"] for call in client.calls]
    assert tokens[0] == tokens[1]
    assert len({tokens[0], tokens[2], tokens[3]}) == 3
    assert all(1 <= len(t) <= 36 for t in tokens)   # DynamoDB's limit


def test_our_own_resend_after_a_cancellation_is_a_new_request(client: RecordingClient) -> None:
    tx = _debit("10.00")
    tx.commit()
    tx.retry = 1
    tx.commit()
    assert client.calls[0]["ClientRequestToken"] != client.calls[1]["ClientRequestToken"]
    assert client.calls[0]["TransactItems"] == client.calls[1]["TransactItems"]
