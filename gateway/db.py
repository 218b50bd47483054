"""The async engine and sessions, for SQLite (embedded) and PostgreSQL (scaled out)."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway import sqlite_driver
from gateway.db_ping import ping_when_idle
from gateway.settings import Settings
from gateway.sqlite_writer import SqliteWriter

POOL_TIMEOUT_SECONDS = 10  # a caller waits this long for a free connection, then gets a 503
WRITE_LOCK_WAIT_SECONDS = 60  # SQLite: a writer waits this long for the one before it, then fails
Result = TypeVar("Result")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; the busy timeout queues writers instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_sqlite_writers: dict[str, threading.Lock] = {}


def _sqlite_writer(url: str) -> threading.Lock:
    return _sqlite_writers.setdefault(url, threading.Lock())


async def _acquire(lock: threading.Lock) -> None:
    """Takes a thread lock without blocking the event loop, and never leaks it to a cancellation.
    A writer that holds it for WRITE_LOCK_WAIT_SECONDS is stuck: the waiter fails instead of hanging."""
    if lock.acquire(blocking=False):
        return
    wait = functools.partial(lock.acquire, timeout=WRITE_LOCK_WAIT_SECONDS)
    waiting = asyncio.get_running_loop().run_in_executor(None, wait)
    try:
        acquired = await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda done: lock.release() if done.result() else None)
        raise
    if not acquired:
        raise TimeoutError(f"the SQLite writer lock stayed taken for {WRITE_LOCK_WAIT_SECONDS} s")


def dump_json(value: Any) -> str:
    """JSON columns through orjson (several times the stdlib's speed on bulk inserts); what orjson
    refuses (an integer beyond 64 bits) goes through the stdlib as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def load_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def upsert_insert(
    connection: AsyncConnection | Connection, table: Table
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of the connection's dialect, which offers `on_conflict_do_nothing` (both do)."""
    return dialect_insert(connection.dialect.name, table)


def dialect_insert(dialect_name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`upsert_insert` by dialect name, for a statement built once and kept."""
    return postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)


JSON_OPTIONS: dict[str, Any] = {"json_serializer": dump_json, "json_deserializer": load_json}


def _one_trip_driver(url: str) -> URL:
    """aiosqlite through gateway/sqlite_driver.py: one trip to its thread per statement."""
    parsed = make_url(url)
    stock = parsed.get_driver_name() == "aiosqlite"
    return parsed.set(drivername=f"sqlite+{sqlite_driver.DRIVER}") if stock else parsed


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.resolved_database_url
    options = JSON_OPTIONS
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            _one_trip_driver(url),
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            **options,
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    # No overflow: an overflow connection is closed when it is returned, so a busy process would
    # open and close a PostgreSQL backend per request (a fork each); callers wait for one instead.
    engine = create_async_engine(
        url, pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=POOL_TIMEOUT_SECONDS, **options
    )
    ping_when_idle(engine)  # instead of pool_pre_ping's round trips on every checkout
    return engine


class Database:
    """One engine and its session factory; the single way the process reaches the database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        self.engine = create_engine(settings)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # PostgreSQL reads skip BEGIN/ROLLBACK; SQLite's driver only begins before a write anyway.
        self.read_engine = (
            self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite has one writer at a time: queue writers here rather than in SQLite's busy loop,
        # which sleeps in growing steps and turns contention into second-long tails. The lock is
        # per file and per process, shared by the gateway's loop and the embedded workers' loop.
        self._write_lock: threading.Lock | None = _sqlite_writer(self.url) if self.is_sqlite else None
        self._writer_thread: SqliteWriter | None = None  # made on first use of `run_write`

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads outside any transaction."""
        async with self.read_engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed when the block ends without an error."""
        lock = self._write_lock
        if lock is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        await _acquire(lock)
        try:
            async with self.engine.begin() as connection:
                yield connection
        finally:
            lock.release()

    async def run_write(self, work: Callable[[Connection], Result]) -> Result:
        """`work(connection)` on a synchronous connection, in one transaction committed when it
        returns: on SQLite in one hand-off to the writer thread (gateway/sqlite_writer.py), on
        PostgreSQL on the async engine. For hot batched writes; `work` must not await anything."""
        lock = self._write_lock
        if lock is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        if self._writer_thread is None:
            self._writer_thread = SqliteWriter(
                self.url,
                lock,
                lock_wait_seconds=WRITE_LOCK_WAIT_SECONDS,
                on_connect=_tune_sqlite,
                engine_options=JSON_OPTIONS,
            )
        return await self._writer_thread.run(work)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False
        return True

    async def dispose(self) -> None:
        if self._writer_thread is not None:
            await self._writer_thread.close()
            self._writer_thread = None
        await self.engine.dispose()
