"""The SQLite writer lock: shared by every engine on the file, and never leaked by a cancellation;
`run_write` transactions: committed or rolled back whole, and on SQLite in turn with every other
writer; PostgreSQL's pooled connections: one that died while idle is replaced before anyone gets it."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Connection, text

from gateway import db_ping
from gateway.db import Database
from gateway.settings import Settings
from tests.support.databases import BACKEND, migrated_database


async def test_a_cancelled_writer_does_not_keep_the_lock(settings: Settings, tmp_path) -> None:
    sqlite = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}"})
    first, second = Database(sqlite), Database(sqlite)  # two engines, as the gateway and its workers
    try:
        async with first.writing() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            waiter = asyncio.create_task(_write(second, 1))
            await asyncio.sleep(0.05)
            assert not waiter.done()  # the other engine waits for this transaction
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await asyncio.wait_for(_write(second, 2), timeout=5)
        async with second.reading() as connection:
            assert (await connection.execute(text("SELECT x FROM t"))).scalars().all() == [2]
    finally:
        await first.dispose()
        await second.dispose()


async def _write(db: Database, value: int) -> None:
    async with db.writing() as connection:
        await connection.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": value})


async def test_run_write_commits_what_returns_and_rolls_back_what_raises(tmp_path: Path) -> None:
    async with migrated_database(tmp_path) as db:
        async with db.writing() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))

        def insert(connection: Connection, value: int, *, fail: bool = False) -> int:
            connection.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": value})
            if fail:
                raise ValueError("refused")
            return value * 10

        assert await db.run_write(lambda connection: insert(connection, 1)) == 10
        with pytest.raises(ValueError, match="refused"):
            await db.run_write(lambda connection: insert(connection, 2, fail=True))
        async with db.reading() as connection:
            assert (await connection.execute(text("SELECT x FROM t"))).scalars().all() == [1]


async def test_run_write_takes_turns_with_other_writers(tmp_path: Path) -> None:
    """Many at once, beside async writers on the same file (SQLite: one writer lock), none fails."""
    async with migrated_database(tmp_path) as db:
        async with db.writing() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))

        def insert(connection: Connection, value: int) -> None:
            connection.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": value})

        threaded = [db.run_write(functools.partial(insert, value=value)) for value in range(50)]
        awaited = [_write(db, value) for value in range(50, 100)]
        await asyncio.gather(*threaded, *awaited)
        async with db.reading() as connection:
            values = (await connection.execute(text("SELECT x FROM t"))).scalars().all()
        assert sorted(values) == list(range(100))


@pytest.mark.skipif(BACKEND != "postgresql", reason="the idle ping is PostgreSQL's")
async def test_a_pooled_connection_that_died_while_idle_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_ping, "IDLE_PING_SECONDS", 0.0)
    async with migrated_database(tmp_path) as db:
        async with db.reading() as connection:
            backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        killer = await asyncpg.connect(db.url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", backend)
        finally:
            await killer.close()

        async with db.reading() as connection:  # the pool hands out a fresh connection
            assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() != backend
