"""The queue port: resolvers hand work to the workers by actor name, never importing them.

The database is the source of truth; the broker is only the fast path. Whatever is enqueued
here was committed first, and the sweeper re-enqueues what a lost enqueue left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import dramatiq
from dramatiq.brokers.stub import StubBroker

# Actors with a queue of their own, so they never wait behind a backlog of sends: a campaign's
# fan-out enqueues 100,000 sends, and neither its own resumption nor the delivery receipts of
# the first sends may queue up behind them.
ACTOR_QUEUES = {"fan_out_campaign": "campaigns"}
ACTOR_QUEUES |= dict.fromkeys(
    ("apply_receipt", "apply_receipts", "recheck_twilio_status", "reconcile_message"), "receipts"
)
ACTOR_QUEUES["deliver_webhook"] = "webhooks"  # a slow receiver never holds up sends, nor sends it
ACTOR_QUEUES |= {"apply_call_status": "receipts", "deliver_call_callbacks": "webhooks"}
DEFAULT_QUEUE = "default"
QUEUES = frozenset({DEFAULT_QUEUE, *ACTOR_QUEUES.values()})  # every queue a worker may consume
PIPELINE_SIZE = 500  # messages per Redis round trip


def queue_of(actor: str) -> str:
    return ACTOR_QUEUES.get(actor, DEFAULT_QUEUE)


class TaskQueue(Protocol):
    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        """Enqueue one message per call (the positional arguments of the actor)."""

    async def pending(self, actor: str) -> int:
        """About how many messages wait in (or are being worked off) the actor's queue."""


class BrokerQueue:
    """Enqueues Dramatiq messages by actor name on any broker (in-process or Redis)."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        messages: list[dramatiq.Message[Any]] = [
            dramatiq.Message(queue_name=queue_of(actor), actor_name=actor, args=args, kwargs={}, options={})
            for args in calls
        ]
        if isinstance(self.broker, StubBroker):
            self._enqueue_all(messages, delay_ms)  # an in-memory queue: nothing to wait for
            return
        # Broker clients are blocking (redis-py); keep them off the event loop.
        await asyncio.to_thread(self._enqueue_all, messages, delay_ms)

    async def pending(self, actor: str) -> int:
        queue_name = queue_of(actor)
        if isinstance(self.broker, StubBroker):
            queue = self.broker.queues.get(queue_name)
            return 0 if queue is None else queue.qsize()
        size = await asyncio.to_thread(self.broker.do_qsize, queue_name)  # type: ignore[attr-defined]
        return int(size)

    def _enqueue_all(self, messages: list[dramatiq.Message[Any]], delay_ms: int | None) -> None:
        enqueue_many = getattr(self.broker, "enqueue_many", None)  # the Redis broker's pipeline
        if enqueue_many is not None and delay_ms is None and len(messages) > 1:
            for start in range(0, len(messages), PIPELINE_SIZE):
                enqueue_many(messages[start : start + PIPELINE_SIZE])
            return
        for message in messages:
            self.broker.enqueue(message, delay=delay_ms)
