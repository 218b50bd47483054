"""Publishing status events on Redis from one event loop, without losing what Redis refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from gateway.bus import StatusEvent
from gateway.bus_wire import messages_of

PUBLISH_ATTEMPTS = 3
UNSENT_LIMIT = 100_000  # events kept for a later publish while Redis does not answer
CLOSE_SECONDS = 5.0  # the last try of the unsent events at close
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # between tries of the unsent events when nothing else comes
logger = logging.getLogger("weconn.bus")


class RedisPublisher:
    """Publishes events on Redis; use it from one event loop (its connections belong to it).

    Publishes made in the same turn of the loop share one pipeline (one round trip); each caller
    still waits until its own events were tried, so "published, then enqueued" keeps its order.
    Events that could not be sent are kept (up to UNSENT_LIMIT) and go out, ahead of newer ones,
    once Redis answers again: subscribers get them late but in full (and also look in the
    database now and then, which covers a process that dies between its commit and its publish).
    """

    def __init__(self, url: str) -> None:
        self.client: Redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._batch: list[StatusEvent] = []
        self._unsent: list[StatusEvent] = []
        self._failures = 0  # flushes in a row that left events unsent
        self._flushed: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until each is done
        self._retry: asyncio.TimerHandle | None = None

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    async def publish(self, events: list[StatusEvent]) -> None:
        if not events:
            return
        self._batch.extend(events)
        await asyncio.shield(self._flush_soon())

    def _flush_soon(self) -> asyncio.Future[None]:
        """The future of the flush that will carry what is batched now (starting one if none)."""
        if self._flushed is None:
            loop = asyncio.get_running_loop()
            self._flushed = loop.create_future()
            task = loop.create_task(self._flush(self._flushed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._flushed

    async def _flush(self, flushed: asyncio.Future[None]) -> None:
        await asyncio.sleep(0)  # let the other publishes of this turn join the batch
        events, self._unsent = self._unsent + self._batch, []
        self._batch, self._flushed = [], None
        try:
            if await self._send(events):
                self._failures = 0
            else:
                self._keep_unsent(events)
        finally:
            flushed.set_result(None)

    def _keep_unsent(self, events: list[StatusEvent]) -> None:
        kept = events + self._unsent  # a flush that failed meanwhile carried newer events
        if len(kept) > UNSENT_LIMIT:
            logger.error("dropped %d unpublished events (limit %d)", len(kept) - UNSENT_LIMIT, UNSENT_LIMIT)
        self._unsent = kept[-UNSENT_LIMIT:]
        delay = RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS) - 1)]
        self._failures += 1
        if self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(delay, self._retry_unsent)

    def _retry_unsent(self) -> None:
        self._retry = None
        if self._unsent:
            self._flush_soon()

    async def _send(self, events: list[StatusEvent]) -> bool:
        """Whether Redis took every event (a few quick tries, as a restarted Redis fails the
        first command on each pooled connection)."""
        try:
            messages = messages_of(events)
        except (TypeError, ValueError):  # a value JSON cannot carry: retrying would not help
            logger.exception("could not encode %d events; subscribers read them stored", len(events))
            return True
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                async with self.client.pipeline(transaction=False) as pipeline:
                    for channel, payload in messages:
                        pipeline.publish(channel, payload)
                    await pipeline.execute()
                return True
            except Exception as error:  # noqa: BLE001 - whatever it was, the events are kept for later
                if attempt + 1 == PUBLISH_ATTEMPTS:
                    logger.warning(
                        "could not publish %d events on Redis, kept for later: %r", len(events), error
                    )
                else:
                    await asyncio.sleep(0.05 * (attempt + 1))
        return False

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self._unsent:
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(self._send(self._unsent), CLOSE_SECONDS):
                    self._unsent = []
        if self._unsent:
            logger.warning("closing with %d unpublished events (subscribers read them stored)", self.unsent)
        await self.client.aclose()
