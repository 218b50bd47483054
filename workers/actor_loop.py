"""The event loop a worker pool's async actors run on, owned by that pool.

Dramatiq's AsyncIO middleware keeps one loop thread per process in a global, which every worker
that boots replaces and every worker that stops stops. Two pools in one process (a second
embedded service, as the tests start) then strand each other's coroutines on a stopped loop: a
stranded coroutine never finishes, its worker thread waits forever, and a SQLite writer lock it
held is never released. So each pool owns its loop: its actors run there and nowhere else, and
stopping it first lets the pool's work finish or unwind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import dramatiq
from dramatiq.asyncio import EventLoopThread

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("weconn.worker")
LEFTOVER_GRACE_SECONDS = 2.0  # tasks an actor left running (webhook attempts) get this long to end


class ActorLoop:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._thread: EventLoopThread | None = None

    def actor(self, fn: Callable[P, Awaitable[None]], **options: Any) -> dramatiq.Actor[P, None]:
        """Registers `fn` (async) as an actor on the broker whose calls run on this loop."""

        @functools.wraps(fn)
        def on_loop(*args: P.args, **kwargs: P.kwargs) -> None:
            self.run(lambda: fn(*args, **kwargs))

        return dramatiq.actor(broker=self.broker, **options)(on_loop)

    def start(self) -> None:
        if self._thread is None:
            thread = EventLoopThread(logger)
            thread.name = "weconn-actors"
            thread.daemon = True  # a process that must exit is not held by a loop nobody stopped
            thread.start(timeout=5.0)
            self._thread = thread

    def run(self, make: Callable[[], Awaitable[R]]) -> R:
        """Runs the coroutine `make()` on the loop and waits for it, from a worker thread."""
        thread = self._thread
        if thread is None:
            raise RuntimeError("the actors' event loop is not running")
        return thread.run_coroutine(make())

    def stop(self, last: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Once the worker has stopped: leftover tasks end (or are cancelled, unwinding their
        transactions and locks), then `last()` runs (closing what the actors opened), then the loop."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        thread.run_coroutine(_finish(last))
        thread.stop()  # type: ignore[no-untyped-call]


async def _finish(last: Callable[[], Coroutine[Any, Any, None]]) -> None:
    leftovers = asyncio.all_tasks() - {asyncio.current_task()}
    if leftovers:
        _, pending = await asyncio.wait(leftovers, timeout=LEFTOVER_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    await last()
