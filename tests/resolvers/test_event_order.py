"""Per-message order of live events when the bus delivers a message's transitions out of order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from sqlalchemy import insert

from gateway.auth import Principal
from gateway.bus import StatusEvent
from gateway.db import Database
from gateway.settings import Settings
from resolvers.context import Context
from resolvers.event_order import EventOrder
from resolvers.live_events import delivery_events, message_status
from resolvers.message_store import EVENTS
from tests.support.messaging import sending_tenant, stored_message

STEPS = ["queued", "sending", "sent", "delivered"]


def event(cursor: int, status: str, message_id: int = 7) -> StatusEvent:
    return StatusEvent(cursor, 1, message_id, "sms", status, datetime.now(UTC))


async def test_an_overtaken_event_is_looked_up_and_its_late_copy_dropped() -> None:
    stored = {3: event(3, "sent")}
    lookups: list[tuple[int, int, int]] = []

    async def between(message_id: int, after: int, before: int) -> AsyncIterator[StatusEvent]:
        lookups.append((message_id, after, before))
        for cursor in sorted(stored):
            if after < cursor < before:
                yield stored[cursor]

    order = EventOrder(0, between)
    passed = []
    for arriving in (event(1, "queued"), event(2, "sending"), event(4, "delivered"), event(3, "sent")):
        passed += [(item.cursor, item.status) async for item in order.in_order(arriving)]
    assert passed == [(1, "queued"), (2, "sending"), (3, "sent"), (4, "delivered")]
    assert lookups == [(7, 2, 4)]  # the usual steps needed no lookup


async def test_a_forgotten_message_is_looked_up_above_the_floor_only() -> None:
    async def between(message_id: int, after: int, before: int) -> AsyncIterator[StatusEvent]:
        assert (message_id, after, before) == (1, 11, 20)
        nothing: tuple[StatusEvent, ...] = ()
        for item in nothing:
            yield item

    order = EventOrder(0, between, capacity=2)
    for cursor, message_id in ((10, 1), (11, 2), (12, 3)):
        order.record(event(cursor, "delivered", message_id))
    assert order.floor == 10  # message 1 was forgotten
    order.record(event(11, "queued", 9))  # forgets message 2: the floor rises to its cursor
    assert [item.cursor async for item in order.in_order(event(20, "read", 1))] == [20]


async def _new_message(db: Database) -> tuple[int, int]:
    tenant, integration_id = await sending_tenant(db)
    return tenant.id, await stored_message(db, tenant.id, integration_id, to="+40740000009")


async def _stored(db: Database, tenant_id: int, message_id: int, status: str) -> StatusEvent:
    now = datetime.now(UTC)
    async with db.writing() as connection:
        values = {
            "tenant_id": tenant_id,
            "message_id": message_id,
            "status": status,
            "detail": {},
            "occurred_at": now,
        }
        cursor = (await connection.execute(insert(EVENTS).values(values).returning(EVENTS.c.id))).scalar_one()
    return StatusEvent(cursor, tenant_id, message_id, "sms", status, now)


async def test_subscriptions_pass_each_messages_events_in_order(
    app: object, db: Database, settings: Settings
) -> None:
    """`delivered` published before `sent` (two workers racing to Redis): both streams still
    give queued, sending, sent, delivered, once each."""
    bus = app.state.services.bus  # type: ignore[attr-defined]
    tenant_id, message_id = await _new_message(db)
    principal = Principal(tenant_id=tenant_id, scopes=frozenset({"read"}), kind="api_key")
    ctx = Context(db=db, settings=settings, bus=bus, principal=principal)
    before = bus.listener_count
    all_events = delivery_events(ctx, channel=None, campaign_id=None, after=None)
    tenant_stream = asyncio.create_task(_take(all_events, 4))
    await _until(lambda: bus.listener_count == before + 1)
    queued = await _stored(db, tenant_id, message_id, "queued")
    await bus.publish([queued])
    one_message = asyncio.create_task(_take(message_status(ctx, message_id=message_id), 4, final="delivered"))
    await _until(lambda: bus.listener_count == before + 2)
    sending = await _stored(db, tenant_id, message_id, "sending")
    sent = await _stored(db, tenant_id, message_id, "sent")
    delivered = await _stored(db, tenant_id, message_id, "delivered")
    await bus.publish([sending])
    await bus.publish([delivered])
    await bus.publish([sent])
    every, one = await asyncio.wait_for(asyncio.gather(tenant_stream, one_message), 10)
    assert [item.status for item in every] == STEPS
    # The message's stream starts from its state when it read the database, then every step.
    statuses = [item.status for item in one]
    assert statuses == STEPS[STEPS.index(statuses[0]) :]
    for seen in (every, one):
        assert [item.cursor for item in seen] == sorted(item.cursor for item in seen)


async def _take(
    stream: AsyncIterator[StatusEvent], count: int, final: str | None = None
) -> list[StatusEvent]:
    taken: list[StatusEvent] = []
    async for item in stream:
        taken.append(item)
        if len(taken) == count or item.status == final:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    return taken


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never listened")
