"""The event bus across processes: events published on Redis, relayed to this process's listeners.

Each tenant has a channel (`weconn:events:<tenant id>`); every gateway relays all of them with
one pattern subscription. Pub/sub keeps nothing, so when the relay loses Redis it reconnects on
its own and marks every listener `lagged`: subscribers then read what they missed from the
database, from their last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.bus import EventBus, StatusEvent, by_tenant

CHANNEL_PREFIX = "weconn:events:"
PUBLISH_ATTEMPTS = 3
PUBLISH_BATCH = 500  # events in one Redis message (about 80 KB)
UNSENT_LIMIT = 100_000  # events kept for a later publish while Redis does not answer
CLOSE_SECONDS = 5.0  # the last try of the unsent events at close
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # between tries of the unsent events when nothing else comes
logger = logging.getLogger("weconn.bus")


def encode(events: list[StatusEvent]) -> bytes:
    """One Redis message for several events of a tenant: one publish and one relay wake-up."""
    return orjson.dumps(
        [
            [event.cursor, event.tenant_id, event.message_id, event.channel, event.status,
             event.occurred_at.isoformat(), event.detail, event.campaign_id]
            for event in events
        ]
    )  # fmt: skip


def decode(payload: bytes) -> list[StatusEvent]:
    events = []
    for fields in orjson.loads(payload):
        cursor, tenant_id, message_id, channel, status, occurred_at, detail, campaign_id = fields
        when = datetime.fromisoformat(occurred_at)
        events.append(StatusEvent(cursor, tenant_id, message_id, channel, status, when, detail, campaign_id))
    return events


def messages_of(events: list[StatusEvent]) -> list[tuple[str, bytes]]:
    """(channel, payload) pairs: each tenant's events in order, at most PUBLISH_BATCH a message."""
    return [
        (f"{CHANNEL_PREFIX}{tenant_id}", encode(tenant_events[start : start + PUBLISH_BATCH]))
        for tenant_id, tenant_events in by_tenant(events).items()
        for start in range(0, len(tenant_events), PUBLISH_BATCH)
    ]


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


class RedisBus(EventBus):
    """Publishes on Redis; `relay` delivers what any process published to this one's listeners."""

    def __init__(self, url: str, max_backlog: int = 10_000) -> None:
        super().__init__(max_backlog)
        self.url = url
        self.publisher = RedisPublisher(url)

    async def publish(self, events: list[StatusEvent]) -> None:
        await self.publisher.publish(events)

    async def relay(self, stop: asyncio.Event) -> None:
        """Until `stop`: relays every tenant's events; reconnects with backoff after a failure."""
        delay = 0.1
        while not stop.is_set():
            try:
                await self._relay_until(stop)
                delay = 0.1
            except (RedisError, OSError) as error:
                logger.warning("event relay lost Redis (%s); reconnecting in %.1f s", error, delay)
                self._mark_all_lagged()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)

    async def _relay_until(self, stop: asyncio.Event) -> None:
        client: Redis = Redis.from_url(self.url, socket_connect_timeout=2)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self._mark_all_lagged()  # anything published before this subscription: from the database
                while not stop.is_set():
                    message: dict[str, Any] | None = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.5
                    )
                    if message is not None and message.get("type") == "pmessage":
                        self.deliver(decode(message["data"]))
        finally:
            await client.aclose()

    def _mark_all_lagged(self) -> None:
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener.loop.call_soon_threadsafe(listener.mark_lagged)

    async def close(self) -> None:
        await self.publisher.close()
