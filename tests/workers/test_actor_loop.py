"""Each worker pool's actors run on a loop of its own: stopping one pool never strands another's
work, and a stopped pool leaves no task behind holding the SQLite writer lock."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text

from gateway.db import Database
from gateway.settings import Settings
from workers.actor_loop import ActorLoop


def _loop_recorder(pool: ActorLoop, name: str, seen: list[tuple[str, asyncio.AbstractEventLoop]]) -> object:
    async def record() -> None:
        seen.append((name, asyncio.get_running_loop()))

    return pool.actor(record, actor_name=name)


def test_two_pools_run_their_actors_each_on_its_own_loop_and_outlive_each_other() -> None:
    broker = StubBroker()
    first, second = ActorLoop(broker), ActorLoop(broker)
    seen: list[tuple[str, asyncio.AbstractEventLoop]] = []
    first_actor = _loop_recorder(first, "first", seen)
    second_actor = _loop_recorder(second, "second", seen)
    first.start()
    second.start()
    try:
        first_actor.fn()  # type: ignore[attr-defined] # what a worker thread calls
        second_actor.fn()  # type: ignore[attr-defined]
        second.stop(_nothing)  # the second service stops ...
        first_actor.fn()  # type: ignore[attr-defined] # ... and the first's actors still run
    finally:
        first.stop(_nothing)
    loops = [loop for _, loop in seen]
    assert [name for name, _ in seen] == ["first", "second", "first"]
    assert loops[0] is loops[2]
    assert loops[0] is not loops[1]


async def _nothing() -> None:
    return None


async def test_stopping_a_pool_unwinds_a_task_left_holding_the_sqlite_writer_lock(
    settings: Settings, tmp_path: Path
) -> None:
    sqlite = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'left.db'}"})
    pool = ActorLoop(StubBroker())
    holding = threading.Event()
    databases: list[Database] = []
    left: list[asyncio.Task[None]] = []  # referenced, as every background task must be

    async def leave_a_writer_behind() -> None:
        db = Database(sqlite)
        databases.append(db)

        async def write_forever() -> None:
            async with db.writing() as connection:
                await connection.execute(text("CREATE TABLE t (x INTEGER)"))
                holding.set()
                await asyncio.Event().wait()  # e.g. a webhook attempt still running at shutdown

        left.append(asyncio.get_running_loop().create_task(write_forever()))

    async def close() -> None:
        for db in databases:
            await db.dispose()

    actor = pool.actor(leave_a_writer_behind, actor_name="leave_a_writer_behind")
    pool.start()
    await asyncio.to_thread(actor.fn)  # type: ignore[attr-defined]
    assert await asyncio.to_thread(holding.wait, 5)
    await asyncio.to_thread(pool.stop, close)
    assert left[0].cancelled()

    after = Database(sqlite)
    try:  # the lock is free again: a write on another engine goes through at once
        async with asyncio.timeout(5), after.writing() as connection:
            await connection.execute(text("INSERT INTO t (x) VALUES (1)"))
    finally:
        await after.dispose()
