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


class TaskQueue(Protocol):
    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        """Enqueue one message per call (the positional arguments of the actor)."""


class BrokerQueue:
    """Enqueues Dramatiq messages by actor name on any broker (in-process or Redis)."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str = "default") -> None:
        self.broker = broker
        self.queue_name = queue_name

    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        messages: list[dramatiq.Message[Any]] = [
            dramatiq.Message(queue_name=self.queue_name, actor_name=actor, args=args, kwargs={}, options={})
            for args in calls
        ]
        if isinstance(self.broker, StubBroker):
            self._enqueue_all(messages, delay_ms)  # an in-memory queue: nothing to wait for
            return
        # Broker clients are blocking (redis-py); keep them off the event loop.
        await asyncio.to_thread(self._enqueue_all, messages, delay_ms)

    def _enqueue_all(self, messages: list[dramatiq.Message[Any]], delay_ms: int | None) -> None:
        for message in messages:
            self.broker.enqueue(message, delay=delay_ms)
