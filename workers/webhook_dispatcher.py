"""The webhook dispatcher loop: new events become deliveries, and lost deliveries are handed out again.

Runs beside the sweeper (inside `weconn serve` when embedded, in every `weconn worker` when
scaled out). Each stream is held by one dispatcher at a time through a leased cursor row, so any
number of them may run; see resolvers.webhook_dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import timedelta
from uuid import uuid4

from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.webhook_dispatch import RECOVERY_BATCH, dispatch_stream, overdue_deliveries, release_streams
from resolvers.webhook_events import DELIVER_ACTOR, enqueue_deliveries
from resolvers.webhook_streams import PAGE, STREAMS

logger = logging.getLogger("weconn.webhooks")


async def dispatch_once(db: Database, queue: TaskQueue, settings: Settings, owner: str) -> bool:
    """One page of each stream; True when a stream had a full page (more is probably waiting)."""
    first_delay = settings.webhook_retry_delays[0]
    full = False
    for stream in STREAMS:
        read, delivery_ids = await dispatch_stream(db, settings, owner, stream)
        full = full or read >= PAGE
        await enqueue_deliveries(queue, delivery_ids, delay_ms=round(first_delay * 1000) or None)
    return full


async def recover_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """Deliveries overdue by `sweep_stale_seconds` (a lost enqueue, a killed worker), enqueued again."""
    if await queue.pending(DELIVER_ACTOR) >= RECOVERY_BATCH:
        return 0  # a backlog: they are most likely waiting in it
    delivery_ids = await overdue_deliveries(db, timedelta(seconds=settings.sweep_stale_seconds))
    await enqueue_deliveries(queue, delivery_ids)
    if delivery_ids:
        logger.warning("re-enqueued %d overdue webhook deliveries", len(delivery_ids))
    return len(delivery_ids)


async def run_webhook_dispatcher(
    db: Database, queue: TaskQueue, settings: Settings, stop: asyncio.Event
) -> None:
    """Until `stop` is set: dispatch every `webhook_dispatch_interval_seconds` (at once while behind),
    recover every `sweep_interval_seconds`; a failed pass is logged and retried."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
    recovered_at = time.monotonic()
    while not stop.is_set():
        behind = False
        try:
            behind = await dispatch_once(db, queue, settings, owner)
            if time.monotonic() - recovered_at >= settings.sweep_interval_seconds:
                recovered_at = time.monotonic()
                await recover_once(db, queue, settings)
        except Exception:
            logger.exception("webhook dispatch failed; retrying next interval")
        if not behind:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.webhook_dispatch_interval_seconds)
    try:
        await release_streams(db, owner)
    except Exception:  # the lease then simply runs out
        logger.exception("could not release the webhook streams")
