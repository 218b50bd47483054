"""The sweeper's pass over calls: a `queued` call nobody placed (its enqueue was lost, or its
worker died while placing it) is placed again; overdue status callbacks are posted again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.call_callbacks import CALLBACK_ACTOR, calls_with_due_callbacks
from resolvers.call_fields import CALLS
from resolvers.call_progress import PLACE_LEASE
from resolvers.call_status import CallStatus
from resolvers.calls import PLACE_CALL_ACTOR

BATCH = 500


async def sweep_calls(db: Database, queue: TaskQueue, settings: Settings) -> int:
    now = datetime.now(UTC)
    never_placed = (CALLS.c.attempts == 0) & (
        CALLS.c.updated_at < now - timedelta(seconds=settings.sweep_stale_seconds)
    )
    abandoned = CALLS.c.updated_at < now - PLACE_LEASE
    query = select(CALLS.c.id).where(
        CALLS.c.status == CallStatus.QUEUED.value,
        CALLS.c.provider_call_id.is_(None),
        never_placed | abandoned,
    )
    async with db.reading() as connection:
        queued = [int(call_id) for call_id in (await connection.execute(query.limit(BATCH))).scalars()]
    if queued:
        await queue.enqueue(PLACE_CALL_ACTOR, [(call_id,) for call_id in queued])
    overdue = await calls_with_due_callbacks(db, BATCH)
    if overdue:
        await queue.enqueue(CALLBACK_ACTOR, [(call_id,) for call_id in overdue])
    return len(queued) + len(overdue)
