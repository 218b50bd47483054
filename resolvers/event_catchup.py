"""A subscriber's look at the stored stream, so that no lost publish leaves a hole in what it passed.

The bus is the fast path and best effort: a publisher can fail after its commit (Redis gone for
longer than its retries, the process killed between commit and publish). So a subscription looks
in the database for what it has not passed: soon after a burst ends, while events flow at least
every BUSY_SECONDS, on a quiet stream every IDLE_SECONDS, and at once when the bus says it lagged.

A look reads only cursors and message ids after `checked`, and then the whole of the events not
yet passed. `checked` moves only past what a look SETTLE_SECONDS ago already saw: a cursor is
taken at the insert but becomes visible at the commit, which may follow a higher cursor's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Select

from gateway.bus import StatusEvent
from gateway.db import Database
from resolvers.message_store import EVENTS

AFTER_BURST_SECONDS = 1.0
BUSY_SECONDS = 10.0
IDLE_SECONDS = 30.0
SETTLE_SECONDS = 5.0
PAGE = 5_000

# Whether the subscriber has passed this (cursor, message id) already.
Passed = Callable[[int, int], bool]


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

    async def missed(self, passed: Passed) -> AsyncIterator[StatusEvent]:
        """The stored events after `checked` that `passed` does not know, oldest first."""
        now = time.monotonic()
        self.last_look, self.busy = now, False
        highest, unseen = self.checked, []
        async for cursor, message_id in self._cursors():
            highest = cursor
            if not passed(cursor, message_id):
                unseen.append(cursor)
        for start in range(0, len(unseen), PAGE):
            chunk = unseen[start : start + PAGE]
            async with self.db.reading() as connection:
                page = self.query.where(EVENTS.c.id.in_(chunk)).order_by(EVENTS.c.id)
                events = [StatusEvent(*row) for row in await connection.execute(page)]
            for event in events:
                yield event
        self._settle(now, highest)

    async def _cursors(self) -> AsyncIterator[tuple[int, int]]:
        narrow = self.query.with_only_columns(EVENTS.c.id, EVENTS.c.message_id).order_by(EVENTS.c.id)
        after = self.checked
        while True:
            async with self.db.reading() as connection:
                rows = [(int(row[0]), int(row[1])) for row in await connection.execute(
                    narrow.where(EVENTS.c.id > after).limit(PAGE))]  # fmt: skip
            for row in rows:
                yield row
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def _settle(self, now: float, highest: int) -> None:
        self.looks.append((now, highest))
        while self.looks and self.looks[0][0] <= now - SETTLE_SECONDS:
            self.checked = max(self.checked, self.looks.popleft()[1])
