"""Per-message order for live subscribers, whatever order the bus delivered in.

A message's transitions are committed in order (each waits for its predecessor's commit), so
their cursors rise with them; but they may be published by different processes (the gateway
says `queued`, a worker `sending` and `sent`, another worker the receipt's `delivered`) and
Redis passes them on in publish order, not commit order. A subscriber that sees an event which
is not its message's usual next step looks in the database for what came between, passes that
first, and drops the late copies when they arrive. On the usual path (queued, sending, sent,
delivered, read) nothing is looked up.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from gateway.bus import StatusEvent

USUAL_NEXT: dict[str | None, str] = {
    None: "queued",
    "queued": "sending",
    "sending": "sent",
    "sent": "delivered",
    "delivered": "read",
}
TRACKED_MESSAGES = 10_000  # per subscriber; the oldest are forgotten first

# The stored events of one message with a cursor in (after, before), oldest first.
Between = Callable[[int, int, int], AsyncIterator[StatusEvent]]


class EventOrder:
    def __init__(self, floor: int, between: Between, capacity: int = TRACKED_MESSAGES) -> None:
        self.floor = floor  # nothing at or below this cursor is looked up (before the subscription)
        self.between = between
        self.capacity = capacity
        self._last: OrderedDict[int, tuple[int, str]] = OrderedDict()

    def seen(self, event: StatusEvent) -> bool:
        """This event, or a later one of its message, has been passed already."""
        last = self._last.get(event.message_id)
        return last is not None and event.cursor <= last[0]

    def passed_up_to(self, message_id: int) -> int:
        """The cursor up to which this message's events count as passed: the last one passed, and
        anything at or below the floor (not for this subscriber)."""
        last = self._last.get(message_id)
        return self.floor if last is None else max(self.floor, last[0])

    def record(self, event: StatusEvent) -> None:
        """Notes an event passed on (from the database or the bus)."""
        self._last[event.message_id] = (event.cursor, event.status)
        self._last.move_to_end(event.message_id)
        if len(self._last) > self.capacity:
            _, (cursor, _status) = self._last.popitem(last=False)
            self.floor = max(self.floor, cursor)

    async def in_order(self, event: StatusEvent) -> AsyncIterator[StatusEvent]:
        """The events to pass for this one from the bus: those it overtook, then itself."""
        if self.seen(event):
            return
        last = self._last.get(event.message_id)
        if USUAL_NEXT.get(last[1] if last else None) != event.status:
            after = max(last[0] if last else 0, self.floor)
            async for missed in self.between(event.message_id, after, event.cursor):
                self.record(missed)
                yield missed
        self.record(event)
        yield event
