"""The webhook delivery actor: claim due deliveries, make one attempt each, record them, schedule
the next ones.

One actor call carries a batch of delivery ids (older calls carry one), claimed in one statement.
The actor only claims, then hands each HTTP request to a task on the worker's event loop and
returns: a worker thread is never held for the up to 15 s a slow receiver takes, so webhooks
cannot starve the sends that share the threads. At most `IN_FLIGHT` attempts run at once per
process (the actor waits for slots beyond that). Finished attempts are recorded together: while
one batch is being written, the attempts finishing meanwhile gather into the next (one
transaction each, see resolvers.webhook_attempts.record_many). An attempt cut short (a stopped
process) is still claimed in the database; its lease runs out and the dispatcher hands it out again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from gateway.db import Database
from gateway.group_commit import GroupCommit
from gateway.queue import TaskQueue, queue_of
from gateway.settings import Settings
from resolvers.webhook_attempts import Claimed, Outcome, claim, claim_many, record, record_many
from resolvers.webhook_events import DELIVER_ACTOR, enqueue_deliveries
from workers.runtime import RuntimeFactory
from workers.webhook_sender import attempt
from workers.webhook_transport import client_for

IN_FLIGHT = 256
RECORD_BATCH = 200  # outcomes per recording transaction, at most
logger = logging.getLogger("weconn.webhooks")
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_recorders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Recorder] = weakref.WeakKeyDictionary()
_running: set[asyncio.Task[None]] = set()


async def deliver(db: Database, settings: Settings, queue: TaskQueue, delivery_id: int) -> Outcome | None:
    """One attempt, if the delivery is due and nobody else holds it; None otherwise."""
    claimed = await claim(db, settings, delivery_id)
    if claimed is None:
        return None  # done, not due yet, given up, or another worker's
    outcome = await attempt(client_for(settings), settings, claimed)
    await _next_attempts(queue, [claimed], [await record(db, settings, claimed, outcome)])
    return outcome


class Recorder:
    """Group commit of finished attempts: `record` waits until the transaction holding its outcome
    has committed, and returns the delivery's next delay (as resolvers.webhook_attempts.record)."""

    def __init__(self, db: Database, settings: Settings, queue: TaskQueue) -> None:
        self.db, self.settings, self.queue = db, settings, queue
        self._commit = GroupCommit(db, self._record_many, batch_size=RECORD_BATCH)

    async def record(self, claimed: Claimed, outcome: Outcome) -> float | None:
        return await self._commit.submit((claimed, outcome))

    async def _record_many(
        self, db: Database, finished: list[tuple[Claimed, Outcome]]
    ) -> list[float | BaseException | None]:
        delays = await record_many(db, self.settings, finished)
        await _next_attempts(self.queue, [claimed for claimed, _ in finished], delays)
        return list(delays)


async def _next_attempts(queue: TaskQueue, claimed: list[Claimed], delays: list[float | None]) -> None:
    for item, delay in zip(claimed, delays, strict=True):
        if delay is not None:
            await enqueue_deliveries(queue, [item.delivery_id], delay_ms=max(1, round(delay * 1000)))


async def complete(recorder: Recorder, claimed: Claimed) -> None:
    outcome = await attempt(client_for(recorder.settings), recorder.settings, claimed)
    await recorder.record(claimed, outcome)


def register_webhook_actors(runtimes: RuntimeFactory) -> None:
    async def deliver_webhook(*delivery_ids: int) -> None:
        runtime = runtimes.current()
        claimed = await claim_many(runtime.db, runtime.settings, delivery_ids)
        if not claimed:
            return
        loop = asyncio.get_running_loop()
        slots = _slots.setdefault(loop, asyncio.Semaphore(IN_FLIGHT))
        recorder = _recorders.get(loop)
        if recorder is None or recorder.db is not runtime.db:
            recorder = _recorders[loop] = Recorder(runtime.db, runtime.settings, runtime.queue)
        for item in claimed:
            await slots.acquire()
            task = asyncio.create_task(complete(recorder, item))
            _running.add(task)
            task.add_done_callback(lambda done: _finished(done, slots))

    # No Dramatiq retries: the retry schedule is the delivery's own, and a crashed attempt's lease
    # runs out, after which the dispatcher hands the delivery out again.
    runtimes.actor(
        deliver_webhook, actor_name=DELIVER_ACTOR, queue_name=queue_of(DELIVER_ACTOR), max_retries=0
    )


def _finished(task: asyncio.Task[None], slots: asyncio.Semaphore) -> None:
    _running.discard(task)
    slots.release()
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "webhook attempt failed unexpectedly; retried once its lease ends", exc_info=task.exception()
        )
