"""Status events fan out to live subscribers of this process (Redis pub/sub comes with scale-out).

Publishers may run on another thread's event loop (the embedded worker): delivery to each
subscriber is scheduled on the subscriber's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StatusEvent:
    cursor: int  # the message_events row id
    tenant_id: int
    message_id: int
    channel: str
    status: str
    occurred_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[StatusEvent]

    def offer(self, event: StatusEvent) -> None:
        """Runs on the subscriber's loop; a subscriber that fell behind loses its oldest event."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)


class EventBus:
    def __init__(self, max_backlog: int = 1000) -> None:
        self.max_backlog = max_backlog
        self._subscribers: dict[int, set[_Subscriber]] = {}

    def publish(self, events: list[StatusEvent]) -> None:
        for event in events:
            for subscriber in list(self._subscribers.get(event.tenant_id, ())):
                subscriber.loop.call_soon_threadsafe(subscriber.offer, event)

    async def subscribe(self, tenant_id: int) -> AsyncIterator[StatusEvent]:
        subscriber = _Subscriber(asyncio.get_running_loop(), asyncio.Queue(self.max_backlog))
        self._subscribers.setdefault(tenant_id, set()).add(subscriber)
        try:
            while True:
                yield await subscriber.queue.get()
        finally:
            self._subscribers[tenant_id].discard(subscriber)
