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
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.bus import EventBus, StatusEvent
from gateway.bus_wire import CHANNEL_PREFIX, decode
from gateway.redis_publisher import RedisPublisher

logger = logging.getLogger("weconn.bus")


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
