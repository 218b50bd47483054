"""The webhook delivery actor: claim a due delivery, make one attempt, record it, schedule the next."""

from __future__ import annotations

import dramatiq

from gateway.db import Database
from gateway.queue import TaskQueue, queue_of
from gateway.settings import Settings
from resolvers.webhook_attempts import Outcome, claim, record
from resolvers.webhook_events import DELIVER_ACTOR, enqueue_deliveries
from workers.runtime import RuntimeFactory
from workers.webhook_sender import attempt
from workers.webhook_transport import client_for


async def deliver(db: Database, settings: Settings, queue: TaskQueue, delivery_id: int) -> Outcome | None:
    """One attempt, if the delivery is due and nobody else holds it; None otherwise."""
    claimed = await claim(db, settings, delivery_id)
    if claimed is None:
        return None  # done, not due yet, given up, or another worker's
    outcome = await attempt(client_for(settings), settings, claimed)
    delay = await record(db, settings, claimed, outcome)
    if delay is not None:
        await enqueue_deliveries(queue, [delivery_id], delay_ms=max(1, round(delay * 1000)))
    return outcome


def register_webhook_actors(broker: dramatiq.Broker, runtimes: RuntimeFactory) -> None:
    async def deliver_webhook(delivery_id: int) -> None:
        runtime = runtimes.current()
        await deliver(runtime.db, runtime.settings, runtime.queue, delivery_id)

    # No Dramatiq retries: the retry schedule is the delivery's own, and a crashed attempt's lease
    # runs out, after which the dispatcher hands the delivery out again.
    dramatiq.actor(
        broker=broker, actor_name=DELIVER_ACTOR, queue_name=queue_of(DELIVER_ACTOR), max_retries=0
    )(deliver_webhook)
