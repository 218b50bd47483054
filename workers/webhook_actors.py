"""The webhook delivery actor: claim a due delivery, make one attempt, record it, schedule the next.

The actor only claims, then hands the HTTP request to a task on the worker's event loop and
returns: a worker thread is never held for the up to 15 s a slow receiver takes, so webhooks
cannot starve the sends that share the threads. At most `IN_FLIGHT` attempts run at once per
process (the actor waits for a slot beyond that). An attempt cut short (a stopped process) is
still claimed in the database; its lease runs out and the dispatcher hands it out again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import dramatiq

from gateway.db import Database
from gateway.queue import TaskQueue, queue_of
from gateway.settings import Settings
from resolvers.webhook_attempts import Claimed, Outcome, claim, record
from resolvers.webhook_events import DELIVER_ACTOR, enqueue_deliveries
from workers.runtime import RuntimeFactory
from workers.webhook_sender import attempt
from workers.webhook_transport import client_for

IN_FLIGHT = 256
logger = logging.getLogger("weconn.webhooks")
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_running: set[asyncio.Task[Outcome]] = set()


async def deliver(db: Database, settings: Settings, queue: TaskQueue, delivery_id: int) -> Outcome | None:
    """One attempt, if the delivery is due and nobody else holds it; None otherwise."""
    claimed = await claim(db, settings, delivery_id)
    if claimed is None:
        return None  # done, not due yet, given up, or another worker's
    return await complete(db, settings, queue, claimed)


async def complete(db: Database, settings: Settings, queue: TaskQueue, claimed: Claimed) -> Outcome:
    outcome = await attempt(client_for(settings), settings, claimed)
    delay = await record(db, settings, claimed, outcome)
    if delay is not None:
        await enqueue_deliveries(queue, [claimed.delivery_id], delay_ms=max(1, round(delay * 1000)))
    return outcome


def register_webhook_actors(broker: dramatiq.Broker, runtimes: RuntimeFactory) -> None:
    async def deliver_webhook(delivery_id: int) -> None:
        runtime = runtimes.current()
        claimed = await claim(runtime.db, runtime.settings, delivery_id)
        if claimed is None:
            return
        slots = _slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(IN_FLIGHT))
        await slots.acquire()
        task = asyncio.create_task(complete(runtime.db, runtime.settings, runtime.queue, claimed))
        _running.add(task)
        task.add_done_callback(lambda done: _finished(done, slots))

    # No Dramatiq retries: the retry schedule is the delivery's own, and a crashed attempt's lease
    # runs out, after which the dispatcher hands the delivery out again.
    dramatiq.actor(
        broker=broker, actor_name=DELIVER_ACTOR, queue_name=queue_of(DELIVER_ACTOR), max_retries=0
    )(deliver_webhook)


def _finished(task: asyncio.Task[Outcome], slots: asyncio.Semaphore) -> None:
    _running.discard(task)
    slots.release()
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "webhook attempt failed unexpectedly; retried once its lease ends", exc_info=task.exception()
        )
