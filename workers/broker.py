"""The Dramatiq broker: in-process when embedded, Redis when scaled out."""

from __future__ import annotations

import asyncio

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO
from redis.exceptions import RedisError

from gateway.settings import Settings


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        # Timeouts, so that a Redis outage fails an enqueue (the sweeper recovers it) instead of hanging.
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace="weconn", socket_timeout=5, socket_connect_timeout=2
        )
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    return broker


async def broker_reachable(broker: dramatiq.Broker) -> bool:
    """Redis answers a PING; the in-process broker is always there."""
    if not isinstance(broker, RedisBroker):
        return True
    try:
        return bool(await asyncio.to_thread(broker.client.ping))
    except RedisError:
        return False
