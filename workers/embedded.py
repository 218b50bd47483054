"""The embedded mode's workers: Dramatiq worker threads and the sweeper inside `weconn serve`."""

from __future__ import annotations

import asyncio
import contextlib

import dramatiq

from gateway.bus import EventPublisher
from gateway.db import Database
from gateway.queue import BrokerQueue
from gateway.settings import Settings
from workers.actors import register_actors
from workers.campaign_scheduler import run_scheduler
from workers.runtime import RuntimeFactory
from workers.sweeper import run_sweeper
from workers.webhook_dispatcher import run_webhook_dispatcher


class WorkerPool:
    """Runs the actors of `broker` on worker threads; the sweeper and scheduler on the caller's loop."""

    def __init__(
        self, settings: Settings, broker: dramatiq.Broker, bus: EventPublisher | None, *, threads: int
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.runtimes = RuntimeFactory(settings, broker, bus)
        register_actors(self.runtimes)
        self.threads = threads
        self._worker: dramatiq.Worker | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._webhooks: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start_workers(self) -> None:
        self.runtimes.start()
        self._worker = dramatiq.Worker(self.broker, worker_threads=self.threads, worker_timeout=100)
        self._worker.start()

    def start_sweeper(self, db: Database) -> None:
        self._stop.clear()
        queue = BrokerQueue(self.broker)
        self._sweeper = asyncio.create_task(run_sweeper(db, queue, self.settings, self._stop))
        self._scheduler = asyncio.create_task(
            run_scheduler(db, queue, self.settings, self._stop, self.runtimes.bus)
        )
        self._webhooks = asyncio.create_task(run_webhook_dispatcher(db, queue, self.settings, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        for task in (self._sweeper, self._scheduler, self._webhooks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._worker is not None:  # the messages in hand finish, then the actors' loop ends
            await asyncio.to_thread(self._worker.stop)
            self._worker = None
            await asyncio.to_thread(self.runtimes.stop)
