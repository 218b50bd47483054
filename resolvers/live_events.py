"""Live subscriptions: a tenant's delivery events, one message's status, a campaign's progress.

Each subscribes to the bus first and reads the database second, so nothing falls between the
two; events seen in both are passed once (by cursor). The bus is the fast path; what it lost
(it could not keep up, lost Redis, or a publisher failed) the subscriber finds in the database
(`resolvers.event_catchup`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select

from gateway.bus import EventBus, StatusEvent
from resolvers import campaigns
from resolvers.campaign_records import CampaignRecord
from resolvers.context import Context
from resolvers.errors import NotFound
from resolvers.event_catchup import CatchUp
from resolvers.event_history import events_after, latest_cursor, parse_cursor, tenant_events
from resolvers.event_order import Between, EventOrder
from resolvers.message_reads import get_message
from resolvers.message_status import is_final
from resolvers.message_store import EVENTS, MESSAGES

PROGRESS_CHECK_SECONDS = 1.0  # a campaign's progress is read at least this often
PROGRESS_INTERVAL_SECONDS = 0.25  # campaign progress: at most four updates a second
DONE_CAMPAIGN = frozenset({"completed", "cancelled", "failed"})


def _bus(ctx: Context) -> EventBus:
    if ctx.bus is None:
        raise RuntimeError("this context has no event bus")
    assert isinstance(ctx.bus, EventBus)
    return ctx.bus


async def delivery_events(
    ctx: Context, *, channel: str | None, campaign_id: int | None, after: str | None
) -> AsyncIterator[StatusEvent]:
    """The tenant's events (optionally one channel's, one campaign's), replayed from `after` first;
    each message's in the order they happened (see `resolvers.event_order`)."""
    tenant_id = ctx.require("read").tenant_id
    start = parse_cursor(after)
    query = tenant_events(tenant_id, channel=channel, campaign_id=campaign_id)
    with _bus(ctx).listen(tenant_id) as listener:
        floor = start if start is not None else await latest_cursor(ctx.db)
        order = EventOrder(floor, _between(ctx, query))
        replayed = floor
        if start is not None:
            async for old in events_after(ctx.db, query, start):
                order.record(old)
                replayed = old.cursor
                yield old
        catch_up = CatchUp(ctx.db, query, checked=floor, seen_up_to=replayed)
        look: asyncio.Task[list[StatusEvent]] | None = None  # runs beside the live stream
        try:
            while True:
                if look is not None and look.done():  # checked before waiting: its wake-up may be spent
                    found, look = look.result(), None
                    for missed in found:  # what passed meanwhile is dropped, the rest kept in order
                        async for ordered in order.in_order(missed):
                            yield ordered
                event = await listener.next(catch_up.quiet_after())
                if look is None and (listener.lagged or catch_up.due(quiet=event is None)):
                    listener.lagged = False
                    look = catch_up.look_beside(order.passed_up_to, wake=listener.wakeup.set)
                if event is not None and event.cursor > floor and _wanted(event, channel, campaign_id):
                    catch_up.note_event()
                    async for ordered in order.in_order(event):
                        yield ordered
        finally:
            if look is not None:
                look.cancel()


def _wanted(event: StatusEvent, channel: str | None, campaign_id: int | None) -> bool:
    return (channel is None or event.channel == channel) and (
        campaign_id is None or event.campaign_id == campaign_id
    )


def _between(ctx: Context, query: Select[Any]) -> Between:
    def between(message_id: int, after: int, before: int) -> AsyncIterator[StatusEvent]:
        one = query.where(MESSAGES.c.id == message_id, EVENTS.c.id < before)
        return events_after(ctx.db, one, after)

    return between


async def message_status(ctx: Context, *, message_id: int) -> AsyncIterator[StatusEvent]:
    """The message's current state, then each transition; ends at a final state."""
    tenant_id = ctx.require("read").tenant_id
    with _bus(ctx).listen(tenant_id) as listener:
        view = await get_message(ctx, message_id=message_id)  # 404 for another tenant's
        query = tenant_events(tenant_id).where(MESSAGES.c.id == message_id)
        history = [event async for event in events_after(ctx.db, query, 0)]
        if not history:
            raise NotFound(f"message {message_id} not found")
        current = history[-1]
        yield current
        order = EventOrder(0, _between(ctx, query))
        for old in history:
            order.record(old)
        catch_up = CatchUp(ctx.db, query, checked=0, seen_up_to=current.cursor)
        while not is_final(current.status, view.channel):
            event = await listener.next(catch_up.quiet_after())
            fresh = []
            if listener.lagged or catch_up.due(quiet=event is None):
                listener.lagged = False
                fresh = [missed async for missed in catch_up.missed(order.passed_up_to)]
            if event is not None and event.message_id == message_id:
                catch_up.note_event()
                fresh.append(event)
            for candidate in fresh:
                async for ordered in order.in_order(candidate):
                    current = ordered
                    yield current
                    if is_final(current.status, view.channel):
                        return


async def campaign_progress(ctx: Context, *, campaign_id: int) -> AsyncIterator[CampaignRecord]:
    """The campaign now, then again whenever its status or counts change (coalesced)."""
    tenant_id = ctx.require("read").tenant_id
    with _bus(ctx).listen(tenant_id) as listener:
        record = await campaigns.get_campaign(ctx, campaign_id=campaign_id)
        yield record
        while not (record.status in DONE_CAMPAIGN and _settled(record)):
            await listener.next(PROGRESS_CHECK_SECONDS)  # an event of the tenant, or a second
            await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
            listener.drain()
            listener.lagged = False
            fresh = await campaigns.get_campaign(ctx, campaign_id=campaign_id)
            if (fresh.status, fresh.stats) != (record.status, record.stats):
                yield fresh
            record = fresh


def _settled(record: CampaignRecord) -> bool:
    return record.stats["queued"] + record.stats["sending"] + record.stats["sent"] == 0
