"""The campaign scheduler: starts due campaigns, resumes silent fan-outs, finishes drained ones.

Everything it does is a claim in the database (on PostgreSQL with `FOR UPDATE SKIP LOCKED`),
so schedules survive restarts and a Redis flush, and any number of schedulers in any number of
processes start each campaign once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from gateway.bus import EventPublisher
from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.campaign_audience import audience_size
from resolvers.campaign_cancelling import cancel_queued
from resolvers.campaign_counters import CAMPAIGNS, COUNTERS, complete_if_finished
from resolvers.campaign_status import CampaignStatus
from resolvers.campaigns import FAN_OUT_ACTOR
from resolvers.webhook_events import emit_campaign_event

logger = logging.getLogger("weconn.scheduler")
BATCH = 50
SENDING = CampaignStatus.SENDING.value


async def schedule_once(
    db: Database, queue: TaskQueue, settings: Settings, bus: EventPublisher | None = None
) -> int:
    """One tick; returns how many fan-outs were handed to the workers."""
    now = datetime.now(UTC)
    started = await _start_due(db, now)
    resumed = await _resume_silent(db, now, timedelta(seconds=settings.campaign_stall_seconds))
    fan_outs = started + resumed
    if fan_outs:
        await queue.enqueue(FAN_OUT_ACTOR, [(campaign_id,) for campaign_id in fan_outs])
    await _finish_drained(db)
    await _cancel_leftovers(db, now, bus)
    return len(fan_outs)


async def _start_due(db: Database, now: datetime) -> list[int]:
    due = (
        select(CAMPAIGNS.c.id, CAMPAIGNS.c.tenant_id, CAMPAIGNS.c.audience)
        .where(CAMPAIGNS.c.status == CampaignStatus.SCHEDULED.value, CAMPAIGNS.c.scheduled_at <= now)
        .order_by(CAMPAIGNS.c.scheduled_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    started: list[int] = []
    async with db.writing() as connection:
        for campaign_id, tenant_id, audience in list(await connection.execute(due)):
            size = await audience_size(connection, tenant_id, audience)
            claim = (
                update(CAMPAIGNS)
                .where(CAMPAIGNS.c.id == campaign_id, CAMPAIGNS.c.status == CampaignStatus.SCHEDULED.value)
                .values(
                    status=SENDING,
                    started_at=now,
                    audience_size=size,
                    fanout_heartbeat_at=now,
                    updated_at=now,
                )
            )
            if (await connection.execute(claim)).rowcount:
                started.append(campaign_id)
                await emit_campaign_event(connection, tenant_id, campaign_id)  # campaign.started
    if started:
        logger.info("started scheduled campaigns %s", started)
    return started


async def _resume_silent(db: Database, now: datetime, stall: timedelta) -> list[int]:
    """Fan-outs whose worker died (no heartbeat), or whose send window has opened again."""
    waiting = CAMPAIGNS.c.fanout_resume_at.is_not(None)
    silent = or_(CAMPAIGNS.c.fanout_heartbeat_at.is_(None), CAMPAIGNS.c.fanout_heartbeat_at < now - stall)
    statement = (
        update(CAMPAIGNS)
        .where(
            CAMPAIGNS.c.status == SENDING,
            CAMPAIGNS.c.fanout_done.is_(False),
            or_(and_(waiting, CAMPAIGNS.c.fanout_resume_at <= now), and_(~waiting, silent)),
        )
        .values(fanout_heartbeat_at=now, fanout_resume_at=None)
        .returning(CAMPAIGNS.c.id)
    )
    async with db.writing() as connection:
        resumed = list((await connection.execute(statement)).scalars())
    if resumed:
        logger.warning("resuming the fan-out of campaigns %s", resumed)
    return resumed


async def _finish_drained(db: Database) -> None:
    """A backstop for the completion check the last delivery makes (two can race past it)."""
    query = select(CAMPAIGNS.c.id).where(CAMPAIGNS.c.status == SENDING, CAMPAIGNS.c.fanout_done.is_(True))
    async with db.reading() as connection:
        ids = list((await connection.execute(query)).scalars())
    for campaign_id in ids:
        async with db.writing() as connection:
            await complete_if_finished(connection, campaign_id=campaign_id)


async def _cancel_leftovers(db: Database, now: datetime, bus: EventPublisher | None) -> None:
    """Queued messages of a cancelled campaign whose cancelling was interrupted."""
    query = (
        select(CAMPAIGNS.c.id)
        .join(COUNTERS, COUNTERS.c.campaign_id == CAMPAIGNS.c.id)
        .where(
            CAMPAIGNS.c.status == CampaignStatus.CANCELLED.value,
            CAMPAIGNS.c.cancelled_at > now - timedelta(days=1),
        )
        .group_by(CAMPAIGNS.c.id)
        .having(func.sum(COUNTERS.c.queued) > 0)
    )
    async with db.reading() as connection:
        ids = list((await connection.execute(query)).scalars())
    for campaign_id in ids:
        await cancel_queued(db, campaign_id, bus)


async def run_scheduler(
    db: Database, queue: TaskQueue, settings: Settings, stop: asyncio.Event, bus: EventPublisher | None = None
) -> None:
    """Ticks every `scheduler_interval_seconds` until `stop` is set; a failed tick is logged and retried."""
    while not stop.is_set():
        try:
            await schedule_once(db, queue, settings, bus)
        except Exception:
            logger.exception("scheduler tick failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.scheduler_interval_seconds)
