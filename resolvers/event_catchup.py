"""A subscriber's look at the stored stream, so that no lost publish leaves a hole in what it passed.

The bus is the fast path and best effort: a publisher can fail after its commit (Redis gone for
longer than its retries, the process killed between commit and publish). So a subscription looks
in the database for what it has not passed: soon after a burst ends, while events flow at least
every BUSY_SECONDS, on a quiet stream every IDLE_SECONDS, and at once when the bus says it lagged.

A look asks the database for each message's highest cursor after `checked` (grouped there, a
window of cursors at a time, so a busy stream costs a row per message rather than per event and
the loop is never held long), and then reads the whole events only of the messages with one the
subscriber has not passed. `checked` moves only past what a look SETTLE_SECONDS ago already saw:
a cursor is taken at the insert but becomes visible at the commit, which may follow a higher
cursor's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Select, func

from gateway.bus import StatusEvent
from gateway.db import Database
from resolvers.message_store import EVENTS

AFTER_BURST_SECONDS = 1.0
BUSY_SECONDS = 10.0
IDLE_SECONDS = 30.0
SETTLE_SECONDS = 5.0
PAGE = 5_000  # messages whose events are read at once
WINDOW = 5_000  # cursors grouped by one query: a few milliseconds of the loop at a time

# The cursor up to which the subscriber has passed this message's events.
PassedUpTo = Callable[[int], int]


class CatchUp:
    def __init__(self, db: Database, query: Select[Any], checked: int, seen_up_to: int | None = None) -> None:
        self.db = db
        self.query = query
        self.checked = checked
        # (when, highest cursor seen) of recent looks; a replay counts as one made now
        self.looks: deque[tuple[float, int]] = deque([(time.monotonic(), seen_up_to or checked)])
        self.last_look = time.monotonic()
        self.busy = False  # events came since the last look

    def note_event(self) -> None:
        self.busy = True

    def quiet_after(self) -> float:
        """How long the bus may stay silent before a look is due."""
        return AFTER_BURST_SECONDS if self.busy else IDLE_SECONDS

    def due(self, *, quiet: bool) -> bool:
        """Whether to look now; `quiet`: the bus gave nothing for a while."""
        elapsed = time.monotonic() - self.last_look
        if quiet:
            return elapsed >= (AFTER_BURST_SECONDS if self.busy else IDLE_SECONDS)
        return elapsed >= BUSY_SECONDS

    def look_beside(
        self, passed_up_to: PassedUpTo, *, wake: Callable[[], None]
    ) -> asyncio.Task[list[StatusEvent]]:
        """`missed` as a task of its own, so that a look (tens of milliseconds on a busy stream)
        never holds up the live events; `wake` is called when it is done."""

        async def look() -> list[StatusEvent]:
            return [event async for event in self.missed(passed_up_to)]

        task = asyncio.create_task(look())
        task.add_done_callback(lambda _task: wake())
        return task

    async def missed(self, passed_up_to: PassedUpTo) -> AsyncIterator[StatusEvent]:
        """The stored events after `checked` that the subscriber has not passed, oldest first."""
        now = time.monotonic()
        self.last_look, self.busy = now, False
        highest, behind = self.checked, {}
        async for message_id, latest in self._latest():
            highest = max(highest, latest)
            up_to = passed_up_to(message_id)
            if latest > up_to:
                behind[message_id] = up_to
        messages = sorted(behind)
        unseen: list[StatusEvent] = []
        for start in range(0, len(messages), PAGE):
            chunk = messages[start : start + PAGE]
            page = self.query.where(EVENTS.c.message_id.in_(chunk), EVENTS.c.id > self.checked)
            async with self.db.reading() as connection:
                rows = await connection.execute(page)
            events = [StatusEvent(*row) for row in rows]
            unseen += [event for event in events if event.cursor > behind[event.message_id]]
        for event in sorted(unseen, key=lambda event: event.cursor):
            yield event
        self._settle(now, highest)

    async def _latest(self) -> AsyncIterator[tuple[int, int]]:
        """(message id, its highest cursor) for every message with an event after `checked`."""
        grouped = self.query.with_only_columns(EVENTS.c.message_id, func.max(EVENTS.c.id)).group_by(
            EVENTS.c.message_id
        )
        async with self.db.reading() as connection:
            newest = self.query.with_only_columns(func.max(EVENTS.c.id)).where(EVENTS.c.id > self.checked)
            top = (await connection.execute(newest)).scalar()
        low = self.checked
        while top is not None and low < top:
            window = grouped.where(EVENTS.c.id > low, EVENTS.c.id <= low + WINDOW)
            async with self.db.reading() as connection:
                rows = [(int(row[0]), int(row[1])) for row in await connection.execute(window)]
            for row in rows:
                yield row
            low += WINDOW

    def _settle(self, now: float, highest: int) -> None:
        self.looks.append((now, highest))
        while self.looks and self.looks[0][0] <= now - SETTLE_SECONDS:
            self.checked = max(self.checked, self.looks.popleft()[1])
