"""`weconn worker`: a scaled-out worker process on the Redis broker, with its own sweeper and scheduler."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

import dramatiq
import uvloop

from gateway.db import Database
from gateway.gc_tuning import settle_heap
from gateway.queue import QUEUES, BrokerQueue
from gateway.settings import Settings
from workers.actors import register_actors
from workers.broker import build_broker
from workers.campaign_scheduler import run_scheduler
from workers.runtime import RuntimeFactory
from workers.sweeper import run_sweeper
from workers.webhook_dispatcher import run_webhook_dispatcher

logger = logging.getLogger("weconn.worker")


def run_worker(settings: Settings, *, threads: int, queues: frozenset[str] | None = None) -> None:
    """Consumes (every queue, or `queues`) until SIGTERM or SIGINT, then finishes the messages in
    hand and exits. Sweeper, scheduler and webhook dispatcher run whatever the queues."""
    if not settings.redis_url:
        raise SystemExit(
            "weconn worker needs WECONN_REDIS_URL (embedded mode runs workers inside weconn serve)"
        )
    # The actors' event-loop thread (and the sweeper's) make their loops through the policy:
    # uvloop's transports and scheduling cost a fraction of asyncio's per provider request.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    broker = build_broker(settings)
    runtimes = RuntimeFactory(settings, broker, bus=None)
    register_actors(runtimes)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    consumed = set(queues) if queues else None  # None: every queue
    worker = dramatiq.Worker(broker, queues=consumed, worker_threads=threads, worker_timeout=100)
    runtimes.start()
    worker.start()
    sweeper = threading.Thread(
        target=_sweep_until, args=(settings, broker, stop), name="sweeper", daemon=True
    )
    sweeper.start()
    settle_heap()
    logger.warning("weconn worker consuming %s with %d threads", ", ".join(sorted(queues or QUEUES)), threads)
    stop.wait()
    worker.stop()  # the messages in hand finish first
    runtimes.stop()
    sweeper.join(timeout=10)
    broker.close()


def _sweep_until(settings: Settings, broker: dramatiq.Broker, stop: threading.Event) -> None:
    async def main() -> None:
        db = Database(settings)
        stopped = asyncio.Event()
        watcher = asyncio.create_task(asyncio.to_thread(stop.wait))
        watcher.add_done_callback(lambda _task: stopped.set())
        try:
            queue = BrokerQueue(broker)
            await asyncio.gather(
                run_sweeper(db, queue, settings, stopped),
                run_scheduler(db, queue, settings, stopped),
                run_webhook_dispatcher(db, queue, settings, stopped),
            )
        finally:
            await db.dispose()

    asyncio.run(main())
