"""The SQLite driver makes one trip to aiosqlite's thread per statement and none for a rollback
outside a transaction, and still behaves as a DBAPI cursor: rows, row counts, RETURNING,
executemany, and the database's errors as SQLAlchemy's."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway.db import Database
from gateway.settings import Settings


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    settings = Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}", data_dir=tmp_path
    )
    db = Database(settings)
    async with db.writing() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER UNIQUE)"))
    yield db
    await db.dispose()


@pytest.fixture
async def trips(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every call handed to the thread of this database's one pooled connection, by function name
    (other tests' services in this process have connections of their own, not counted)."""
    async with sqlite_db.reading() as connection:
        ours = (await connection.get_raw_connection()).driver_connection
    counted: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self is ours:
            counted[getattr(fn, "__name__", type(fn).__name__)] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return counted


async def test_a_statement_is_one_trip_and_a_needless_rollback_none(
    sqlite_db: Database, trips: Counter[str]
) -> None:
    async with sqlite_db.reading() as connection:
        assert (await connection.execute(text("SELECT x FROM t"))).all() == []
    assert sum(trips.values()) == 1
    trips.clear()
    async with sqlite_db.writing() as connection:
        await connection.execute(text("INSERT INTO t (x) VALUES (1)"))
    assert trips == Counter({"_run": 1, "commit": 1})


async def test_rows_counts_returning_and_executemany(sqlite_db: Database) -> None:
    async with sqlite_db.writing() as connection:
        await connection.execute(text("INSERT INTO t (x) VALUES (:x)"), [{"x": value} for value in range(5)])
        returned = await connection.execute(text("INSERT INTO t (x) VALUES (10), (11) RETURNING x"))
        assert sorted(returned.scalars()) == [10, 11]
        updated = await connection.execute(text("UPDATE t SET x = x + 100 WHERE x < 3"))
        assert updated.rowcount == 3
    async with sqlite_db.reading() as connection:
        rows = (await connection.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all()
        assert rows == [3, 4, 10, 11, 100, 101, 102]
        first = (await connection.execute(text("SELECT x FROM t ORDER BY x"))).first()
        assert first is not None
        assert first.x == 3


async def test_errors_are_sqlalchemys_and_roll_back(sqlite_db: Database) -> None:
    async def insert_twice() -> None:
        async with sqlite_db.writing() as connection:
            await connection.execute(text("INSERT INTO t (x) VALUES (7)"))
            await connection.execute(text("INSERT INTO t (x) VALUES (7)"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with sqlite_db.reading() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
