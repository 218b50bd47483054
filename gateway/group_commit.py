"""Group commit: writes that arrive while one is in flight go together in the next transaction.

Each caller awaits its own outcome; one writer task per event loop and database drains the queue
in batches. Alone, a write goes at the next turn of the loop, so nothing waits for a batch to
fill; under load, N concurrent writes share one BEGIN ... COMMIT (and one pool checkout) instead
of paying N of them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from gateway.db import Database

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
WriteMany = Callable[[Database, list[Item]], Awaitable[list[Outcome | BaseException]]]


class GroupCommit(Generic[Item, Outcome]):
    """`write_many(db, items)` returns one outcome per item, in order: a result, or the exception
    that item's caller gets. An exception it raises goes to every caller of the batch.

    Up to `concurrency` batches are written at once (each in its own transaction): a batch's
    round trips wait their turns on a busy event loop, so one writer alone leaves the database
    idle between them. With `each_alone_on_error`, a batch whose `write_many` raises is written
    again item by item, so that whatever failed it fails only the callers it came from."""

    def __init__(
        self,
        db: Database,
        write_many: WriteMany[Item, Outcome],
        *,
        batch_size: int,
        concurrency: int = 1,
        each_alone_on_error: bool = False,
    ) -> None:
        self.db, self.write_many, self.batch_size = db, write_many, batch_size
        self.concurrency = concurrency
        self.each_alone_on_error = each_alone_on_error
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Outcome:
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        self._start_writer()
        return await done

    async def submit_many(self, items: list[Item]) -> list[Outcome | BaseException]:
        """`submit` for items that came together: each one's outcome, or the exception it got."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Outcome]] = [loop.create_future() for _ in items]
        self._waiting.extend(zip(items, futures, strict=True))
        self._start_writer()
        return await asyncio.gather(*futures, return_exceptions=True)

    def _start_writer(self) -> None:
        # A writer that found nothing more to do is done before its done-callbacks run: count it out.
        self._writers = {writer for writer in self._writers if not writer.done()}
        if len(self._writers) < self.concurrency:
            self._writers.add(asyncio.create_task(self._write()))

    async def _write(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.batch_size]
            del self._waiting[: self.batch_size]
            try:
                outcomes = await self._outcomes([item for item, _ in batch])
            except BaseException as error:  # also a cancelled writer: no caller may wait forever
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():  # its caller was cancelled
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    async def _outcomes(self, items: list[Item]) -> list[Outcome | BaseException]:
        try:
            return await self.write_many(self.db, items)
        except Exception:
            if not self.each_alone_on_error or len(items) == 1:
                raise
        return [await self._alone(item) for item in items]

    async def _alone(self, item: Item) -> Outcome | BaseException:
        try:
            [outcome] = await self.write_many(self.db, [item])
        except Exception as error:  # noqa: BLE001 - it becomes this item's caller's error
            return error
        return outcome


# loop -> (database, write_many) -> its writer; a writer keeps its database, so ids are not reused
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, object], Any]] = (
    weakref.WeakKeyDictionary()
)


def group_commit(
    db: Database,
    write_many: WriteMany[Item, Outcome],
    *,
    batch_size: int,
    concurrency: int = 1,
    each_alone_on_error: bool = False,
) -> GroupCommit[Item, Outcome]:
    """The running loop's writer of `write_many` on `db` (a writer belongs to one event loop)."""
    writers = _writers.setdefault(asyncio.get_running_loop(), {})
    key = (id(db), write_many)
    writer: GroupCommit[Item, Outcome] | None = writers.get(key)
    if writer is None:
        # SQLite takes one writer at a time: a second would only wait for its lock in a thread.
        at_once = 1 if db.is_sqlite else concurrency
        writer = GroupCommit(
            db,
            write_many,
            batch_size=batch_size,
            concurrency=at_once,
            each_alone_on_error=each_alone_on_error,
        )
        writers[key] = writer
    return writer
