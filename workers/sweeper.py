"""Re-enqueues what the fast path lost: messages left `queued`, or `sending` past their lease,
and asks providers about messages `sent` long ago whose receipt never came.

The database is the source of truth, so a crash between commit and enqueue, a killed worker or
a broker that lost its queue costs only time. Each sweep takes its rows with a conditional
UPDATE, so several sweepers in several processes never hand the same row out twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select, update

from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.message_status import MessageStatus
from resolvers.message_store import MESSAGES, SEND_GROUP_ACTOR, SEND_GROUP_SIZE, send_groups
from workers.call_sweeper import sweep_calls

RECONCILE_ACTOR = "reconcile_message"

logger = logging.getLogger("weconn.sweeper")
BATCH = 1000


async def sweep_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """One pass; returns how many messages were handed to the workers again."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=settings.sweep_stale_seconds)
    unanswered = now - timedelta(seconds=settings.receipt_timeout_seconds)
    queued = and_(MESSAGES.c.status == MessageStatus.QUEUED.value, MESSAGES.c.updated_at < stale)
    sending = and_(MESSAGES.c.status == MessageStatus.SENDING.value, MESSAGES.c.lease_expires_at < stale)
    sent = and_(MESSAGES.c.status == MessageStatus.SENT.value, MESSAGES.c.updated_at < unanswered)
    passes = [
        (sending, {"lease_expires_at": now}, SEND_GROUP_ACTOR),
        (sent, {"updated_at": now}, RECONCILE_ACTOR),
    ]
    # Old `queued` rows behind a deep backlog are still in the broker, only waiting: re-enqueuing
    # them would pile duplicates onto the backlog. Lost ones (a crash before the enqueue, a Redis
    # flush) are picked up once the queue is shallow again.
    if await queue.pending(SEND_GROUP_ACTOR) * SEND_GROUP_SIZE < BATCH:
        passes.insert(0, (queued, {"updated_at": now}, SEND_GROUP_ACTOR))
    total = 0
    for condition, touch, actor in passes:
        async with db.reading() as connection:
            ids = list(
                (await connection.execute(select(MESSAGES.c.id).where(condition).limit(BATCH))).scalars()
            )
        if not ids:
            continue
        async with db.writing() as connection:
            taken = await connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(ids), condition)
                .values(touch)
                .returning(MESSAGES.c.id)
            )
            claimed = list(taken.scalars())
        calls = (
            send_groups(claimed) if actor == SEND_GROUP_ACTOR else [(message_id,) for message_id in claimed]
        )
        await queue.enqueue(actor, calls)
        total += len(claimed)
    if total:
        logger.warning("sweeper re-enqueued %d messages", total)
    return total


async def run_sweeper(db: Database, queue: TaskQueue, settings: Settings, stop: asyncio.Event) -> None:
    """Sweeps every `sweep_interval_seconds` until `stop` is set; a failed pass is logged and retried."""
    while not stop.is_set():
        try:
            await sweep_once(db, queue, settings)
            await sweep_calls(db, queue, settings)
        except Exception:
            logger.exception("sweep failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
