"""Events whose publish was lost still reach every subscription, from the stored stream, once each."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from gateway.auth import Principal
from gateway.bus import EventBus
from gateway.db import Database
from gateway.settings import Settings
from resolvers import event_catchup
from resolvers.context import Context
from resolvers.event_history import tenant_events
from resolvers.live_events import delivery_events, message_status
from tests.resolvers.test_event_order import STEPS, _stored, _take, _until
from tests.support.messaging import sending_tenant, stored_message

DONE = "delivered"  # the rows' own status: no worker or sweeper touches them; the events are the test's


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_catchup, "AFTER_BURST_SECONDS", 0.2)
    monkeypatch.setattr(event_catchup, "SETTLE_SECONDS", 0.5)


async def test_a_stream_passes_events_whose_publish_was_lost(
    app: object, db: Database, settings: Settings
) -> None:
    bus: EventBus = app.state.services.bus  # type: ignore[attr-defined]
    tenant, integration_id = await sending_tenant(db)
    first, *others = [
        await stored_message(db, tenant.id, integration_id, to=f"+4074000002{n}", status=DONE)
        for n in range(3)
    ]
    tenant_id = tenant.id
    ctx = _reader(db, settings, bus, tenant_id)
    before = bus.listener_count
    stream = asyncio.create_task(_take(delivery_events(ctx, channel=None, campaign_id=None, after=None), 12))
    await _until(lambda: bus.listener_count == before + 1)

    for status in STEPS:
        published = await _stored(db, tenant_id, first, status)
        await bus.publish([published])  # only the first message's events reach the bus
        for message_id in others:
            await _stored(db, tenant_id, message_id, status)

    passed = await asyncio.wait_for(stream, 15)
    per_message: dict[int, list[str]] = defaultdict(list)
    for event in passed:
        per_message[event.message_id].append(event.status)
    assert per_message == dict.fromkeys((first, *others), STEPS)
    assert len({event.cursor for event in passed}) == 12


async def test_a_message_stream_ends_although_its_final_publish_was_lost(
    app: object, db: Database, settings: Settings
) -> None:
    bus: EventBus = app.state.services.bus  # type: ignore[attr-defined]
    tenant, integration_id = await sending_tenant(db)
    tenant_id = tenant.id
    message_id = await stored_message(db, tenant_id, integration_id, status=DONE)
    await _stored(db, tenant_id, message_id, "queued")
    ctx = _reader(db, settings, bus, tenant_id)
    before = bus.listener_count
    stream = asyncio.create_task(_take(message_status(ctx, message_id=message_id), 4, final="delivered"))
    await _until(lambda: bus.listener_count == before + 1)
    for status in STEPS[1:]:
        event = await _stored(db, tenant_id, message_id, status)
        if status != "delivered":
            await bus.publish([event])

    passed = await asyncio.wait_for(stream, 15)
    assert [event.status for event in passed][-1] == "delivered"
    assert [event.status for event in passed] == STEPS[STEPS.index(passed[0].status) :]


def _reader(db: Database, settings: Settings, bus: EventBus, tenant_id: int) -> Context:
    principal = Principal(tenant_id=tenant_id, scopes=frozenset({"read"}), kind="api_key")
    return Context(db=db, settings=settings, bus=bus, principal=principal)


async def test_a_look_finds_exactly_the_events_not_passed_across_windows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per message, what lies above the cursor it was passed up to; grouped a few cursors at a time."""
    monkeypatch.setattr(event_catchup, "WINDOW", 3)
    tenant, integration_id = await sending_tenant(db)
    messages = [
        await stored_message(db, tenant.id, integration_id, to=f"+4074000004{n}", status=DONE)
        for n in range(4)
    ]
    stored = {
        message: [await _stored(db, tenant.id, message, status) for status in STEPS] for message in messages
    }
    up_to = {  # nothing of the first passed, two of the second, all of the third, the fourth unknown
        messages[0]: 0,
        messages[1]: stored[messages[1]][1].cursor,
        messages[2]: stored[messages[2]][-1].cursor,
    }
    catch_up = event_catchup.CatchUp(db, tenant_events(tenant.id), checked=0)

    found = [event async for event in catch_up.missed(lambda message_id: up_to.get(message_id, 0))]

    expected = stored[messages[0]] + stored[messages[1]][2:] + stored[messages[3]]
    assert [(event.cursor, event.status) for event in found] == sorted(
        (event.cursor, event.status) for event in expected
    )
