"""SQLite transactions run whole on one thread, for the hottest batched writes.

Through aiosqlite every statement is several hand-offs between the event loop and the driver's
thread (cursor, execute, fetch, close), each a wake-up of the loop plus SQLAlchemy's greenlet
bridging: a batch of sixteen contacts cost 26 hand-offs and about 2 ms of the loop's CPU. Here
the same SQLAlchemy Core statements run on a plain pysqlite engine for the same file, in a
thread of their own, in one hand-off per transaction. The thread takes the process's SQLite
writer lock (the one `Database.writing` takes), so writers still go one at a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

Result = TypeVar("Result")


class SqliteWriter:
    """`run(work)`: `work(connection)` in one transaction, committed when it returns."""

    def __init__(
        self,
        url: str,
        lock: threading.Lock,
        *,
        lock_wait_seconds: float,
        on_connect: Callable[[Any, Any], None],
        engine_options: dict[str, Any],
    ) -> None:
        self._lock, self._lock_wait_seconds = lock, lock_wait_seconds
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # One thread, so one connection, always used by the thread that opened it.
        self._engine: Engine = create_engine(sync_url, pool_size=1, max_overflow=0, **engine_options)
        event.listen(self._engine, "connect", on_connect)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weconn-sqlite-writer")

    async def run(self, work: Callable[[Connection], Result]) -> Result:
        # Once the thread has started a transaction it finishes it, even if the caller is cancelled.
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], Result]) -> Result:
        if not self._lock.acquire(timeout=self._lock_wait_seconds):
            raise TimeoutError(f"the SQLite writer lock stayed taken for {self._lock_wait_seconds} s")
        try:
            with self._engine.begin() as connection:
                return work(connection)
        finally:
            self._lock.release()

    async def close(self) -> None:
        """Waits for the transactions already handed over, then closes the connection."""
        await asyncio.get_running_loop().run_in_executor(None, self._close)

    def _close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()
