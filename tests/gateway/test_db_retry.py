"""Transactions refused for a passing reason (deadlock, serialization) are run again; others are not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from gateway import db_retry


class Refusal(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def refused(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE messages ...", None, Refusal(sqlstate))


async def test_a_deadlock_is_retried_until_the_transaction_goes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db_retry, "FIRST_PAUSE_SECONDS", 0)
    failures = [refused("40P01"), refused("40001")]
    calls = 0

    async def operation() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "recorded"

    assert await db_retry.retrying(operation, what="test") == "recorded"
    assert calls == 3


async def test_other_errors_and_the_last_attempt_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_retry, "FIRST_PAUSE_SECONDS", 0)
    calls = 0

    async def violates() -> None:
        nonlocal calls
        calls += 1
        raise refused("23505")  # a unique violation will not pass

    with pytest.raises(DBAPIError):
        await db_retry.retrying(violates, what="test")
    assert calls == 1

    async def deadlocks() -> None:
        nonlocal calls
        calls += 1
        raise refused("40P01")

    calls = 0
    with pytest.raises(DBAPIError):
        await db_retry.retrying(deadlocks, what="test")
    assert calls == db_retry.ATTEMPTS
