"""What actors need, made once per event loop: the database, the queue, the providers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import dramatiq

from gateway.bus import EventPublisher
from gateway.db import Database
from gateway.queue import BrokerQueue
from gateway.redis_publisher import RedisPublisher
from gateway.settings import Settings
from resolvers.delivery import Delivery
from workers.actor_loop import ActorLoop
from workers.providers.base import Provider
from workers.providers.registry import build_providers, close_providers
from workers.providers.voice import VoiceProvider, build_voice_providers
from workers.webhook_transport import close_clients as close_webhook_clients

PROVIDER_SLOTS = 32


@dataclass
class WorkerRuntime:
    settings: Settings
    db: Database
    queue: BrokerQueue
    delivery: Delivery
    bus: EventPublisher | None = None
    # Provider calls in flight on this loop at once: a group's sends run concurrently, and an
    # HTTP client's pool gets slower, not faster, with hundreds of requests waiting on it.
    provider_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PROVIDER_SLOTS))
    providers: dict[str, Provider] = field(default_factory=dict)
    voice: dict[str, VoiceProvider] = field(default_factory=dict)


class RuntimeFactory:
    """A worker pool's actors, their own event loop, and what they need on it: one runtime, built
    on that loop by the first actor that asks (database engines belong to one event loop)."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker, bus: EventPublisher | None) -> None:
        self.settings = settings
        self.broker = broker
        self.bus = bus
        self.loop = ActorLoop(broker)
        self.actor = self.loop.actor  # registers an async actor that runs on this pool's loop
        self._runtime: WorkerRuntime | None = None

    def start(self) -> None:
        """Before the Dramatiq worker starts."""
        self.loop.start()

    def stop(self) -> None:
        """After the Dramatiq worker stopped (blocking: call it from a thread of its own)."""
        self.loop.stop(self.close)

    def current(self) -> WorkerRuntime:
        if self._runtime is None:
            self._runtime = self._build()
        return self._runtime

    def _build(self) -> WorkerRuntime:
        db = Database(self.settings)
        queue = BrokerQueue(self.broker)
        # Embedded, the gateway's own bus; scaled out, Redis, on this loop's own connections.
        bus = self.bus
        if bus is None and self.settings.redis_url:
            bus = RedisPublisher(self.settings.redis_url)
        return WorkerRuntime(
            settings=self.settings,
            db=db,
            queue=queue,
            delivery=Delivery(db, self.settings, bus),
            bus=bus,
            providers=build_providers(self.settings, queue),
            voice=build_voice_providers(self.settings, queue),
        )

    async def close(self) -> None:
        await close_webhook_clients()
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await close_providers(runtime.providers)
            await close_providers(runtime.voice)
            if isinstance(runtime.bus, RedisPublisher):
                await runtime.bus.close()
            await runtime.db.dispose()
