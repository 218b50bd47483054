"""The Redis event bus: events published in batches reach every listener of their tenant, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import redis_publisher
from gateway.bus import Listener, StatusEvent
from gateway.bus_redis import RedisBus
from gateway.bus_wire import PUBLISH_BATCH, messages_of
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def events_of(tenant_id: int, count: int, first_cursor: int) -> list[StatusEvent]:
    now = datetime.now(UTC)
    return [
        StatusEvent(
            first_cursor + n, tenant_id, 1000 + n, "sms", "queued", now, {"n": n}, 7 if n % 2 else None
        )
        for n in range(count)
    ]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
async def bus(redis: RedisServer) -> AsyncIterator[RedisBus]:
    bus = RedisBus(redis.url)
    stop = asyncio.Event()
    relay = asyncio.create_task(bus.relay(stop))
    try:
        yield bus
    finally:
        stop.set()
        await asyncio.wait_for(relay, 5)
        await bus.close()


def test_a_tenants_events_are_split_into_messages_of_at_most_a_batch() -> None:
    events = events_of(1, PUBLISH_BATCH + 1, 1) + events_of(2, 3, 10_000)

    messages = messages_of(events)

    assert [channel for channel, _ in messages] == ["weconn:events:1", "weconn:events:1", "weconn:events:2"]


async def test_listeners_get_their_tenants_events_in_order_with_every_field(bus: RedisBus) -> None:
    first, second, other = bus.listen(1), bus.listen(1), bus.listen(2)
    mine, theirs = events_of(1, PUBLISH_BATCH * 2 + 5, 1), events_of(2, 4, 50_000)
    await _until_subscribed(first)

    await bus.publish(mine[:10] + theirs + mine[10:])

    for listener in (first, second):
        assert await _collect(listener, len(mine)) == mine
    assert await _collect(other, len(theirs)) == theirs
    for listener in (first, second, other):
        listener.close()


async def test_events_that_found_redis_down_go_out_first_once_it_is_back(
    bus: RedisBus, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_publisher, "RETRY_SECONDS", (60.0,))  # only the next publish takes them along
    listener = bus.listen(1)
    await _until_subscribed(listener)
    earlier, later = events_of(1, 3, 1), events_of(1, 2, 4)

    redis.stop()
    await bus.publish(earlier)
    assert bus.publisher.unsent == len(earlier)
    listener.lagged = False
    redis.start()
    await _until_subscribed(listener)  # the relay is back
    await bus.publish(later)

    assert await _collect(listener, 5) == earlier + later
    assert bus.publisher.unsent == 0
    listener.close()


async def _until_subscribed(listener: Listener) -> None:
    """The relay marks listeners lagged once its pattern subscription stands."""
    for _ in range(200):
        if listener.lagged:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the relay never subscribed")


async def _collect(listener: Listener, count: int) -> list[StatusEvent]:
    received: list[StatusEvent] = []
    while len(received) < count:
        event = await listener.next(wait_seconds=5)
        assert event is not None, f"only {len(received)} of {count} events arrived"
        received.append(event)
    return received
