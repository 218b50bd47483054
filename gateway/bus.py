"""Status events fan out to live subscribers: in this process, and across processes via Redis.

`EventBus` is the local fan-out. Embedded, its `publish` delivers directly; scaled out
(`gateway.bus_redis.RedisBus`) `publish` goes to Redis and a relay task delivers what Redis
sends back, so a subscriber on any gateway sees events produced by any process.

Publishers may run on another thread's event loop (the embedded worker): delivery to each
listener is scheduled on the listener's own loop. A listener that falls far behind is marked
`lagged` instead of growing without bound; it catches up from the database (the events table
is the durable stream, the bus only the fast path).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StatusEvent:
    cursor: int  # the message_events row id
    tenant_id: int
    message_id: int
    channel: str
    status: str
    occurred_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    campaign_id: int | None = None


def by_tenant(events: list[StatusEvent]) -> dict[int, list[StatusEvent]]:
    """Each tenant's events, in their order."""
    grouped: dict[int, list[StatusEvent]] = {}
    for event in events:
        grouped.setdefault(event.tenant_id, []).append(event)
    return grouped


class EventPublisher(Protocol):
    async def publish(self, events: list[StatusEvent]) -> None:
        """After the commit of the transitions: best effort (the events table is the record)."""


class Listener:
    """One subscriber's queue of a tenant's events; registered from creation until `close`."""

    def __init__(self, bus: EventBus, tenant_id: int, max_backlog: int) -> None:
        self.bus = bus
        self.tenant_id = tenant_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[StatusEvent] = asyncio.Queue(max_backlog)
        self.lagged = False  # events were dropped: read the database from the last cursor
        self.wakeup = asyncio.Event()

    def offer(self, events: list[StatusEvent]) -> None:
        """Runs on the listener's loop."""
        for event in events:
            if self.queue.full():
                self.lagged = True
                while not self.queue.empty():
                    self.queue.get_nowait()
            self.queue.put_nowait(event)
        self.wakeup.set()

    def mark_lagged(self) -> None:
        """Events may have been missed (the relay lost Redis): the subscriber reads the database."""
        self.lagged = True
        self.wakeup.set()

    async def next(self, wait_seconds: float | None = None) -> StatusEvent | None:
        """The next event, or None once `wait_seconds` pass (or the listener lagged: see `lagged`)."""
        if self.queue.empty():
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), wait_seconds)
            except TimeoutError:
                return None
        return None if self.queue.empty() else self.queue.get_nowait()

    def drain(self) -> list[StatusEvent]:
        """Everything waiting, without waiting."""
        events: list[StatusEvent] = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def close(self) -> None:
        self.bus._forget(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class EventBus:
    def __init__(self, max_backlog: int = 10_000) -> None:
        self.max_backlog = max_backlog
        self._listeners: dict[int, set[Listener]] = {}

    async def publish(self, events: list[StatusEvent]) -> None:
        self.deliver(events)

    def deliver(self, events: list[StatusEvent]) -> None:
        """Hands each event to its tenant's listeners, from any thread: one wake-up per listener."""
        for tenant_id, tenant_events in by_tenant(events).items():
            for listener in list(self._listeners.get(tenant_id, ())):
                listener.loop.call_soon_threadsafe(listener.offer, tenant_events)

    def listen(self, tenant_id: int) -> Listener:
        listener = Listener(self, tenant_id, self.max_backlog)
        self._listeners.setdefault(tenant_id, set()).add(listener)
        return listener

    @property
    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    def _forget(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.tenant_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.tenant_id]
