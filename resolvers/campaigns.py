"""Campaigns: create, list, read, send now or on schedule, cancel; always inside the caller's tenant."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers import campaign_counters, campaign_records
from resolvers.campaign_audience import audience_of, audience_size
from resolvers.campaign_cancelling import cancel_queued
from resolvers.campaign_content import check_content
from resolvers.campaign_counters import CAMPAIGNS
from resolvers.campaign_fields import CampaignFields, SendCampaignFields, parse_schedule
from resolvers.campaign_records import CampaignRecord
from resolvers.campaign_status import CANCELLABLE, SENDABLE, CampaignStatus
from resolvers.context import Context
from resolvers.errors import Conflict, ValidationFailed
from resolvers.pagination import Page, page_request
from resolvers.webhook_events import emit_campaign_event

FAN_OUT_ACTOR = "fan_out_campaign"
logger = logging.getLogger("weconn.campaigns")


async def create_campaign(ctx: Context, *, fields: CampaignFields) -> CampaignRecord:
    tenant_id = ctx.require("write").tenant_id
    now = datetime.now(UTC)
    async with ctx.db.reading() as connection:
        await check_content(connection, ctx.settings, tenant_id=tenant_id, fields=fields)
    values = {
        "tenant_id": tenant_id,
        "name": fields.name,
        "channel": fields.channel,
        "message_template": fields.message_template,
        "template_key": fields.template_key,
        "subject": fields.subject,
        "integration_id": fields.integration_id,
        "sms_routing": fields.sms_routing,
        "audience": audience_of(fields.tags, fields.tag_match, fields.contact_ids),
        "send_window": fields.send_window.model_dump() if fields.send_window else None,
        "status": CampaignStatus.DRAFT.value,
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.db.writing() as connection:
        statement = insert(CAMPAIGNS).values(values).returning(CAMPAIGNS.c.id)
        campaign_id = (await connection.execute(statement)).scalar_one()
        await campaign_counters.create_shards(connection, campaign_id)
        return await campaign_records.load(connection, tenant_id, campaign_id)


async def list_campaigns(
    ctx: Context, *, page: int | None, per_page: int | None, status: str | None
) -> Page[CampaignRecord]:
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    filters = [CAMPAIGNS.c.tenant_id == tenant_id]
    if status is not None:
        if status not in CampaignStatus.__members__.values():
            allowed = ", ".join(CampaignStatus)
            raise ValidationFailed(f"status: one of {allowed}", fields={"status": [f"one of {allowed}"]})
        filters.append(CAMPAIGNS.c.status == status)
    query = (
        campaign_records.select_campaigns(tenant_id)
        .where(*filters)
        .order_by(CAMPAIGNS.c.id.desc())
        .offset(request.offset)
        .limit(request.per_page)
    )
    async with ctx.db.reading() as connection:
        total = (
            await connection.execute(select(func.count()).select_from(CAMPAIGNS).where(*filters))
        ).scalar_one()
        items = await campaign_records.records(connection, query)
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)


async def get_campaign(ctx: Context, *, campaign_id: int) -> CampaignRecord:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.reading() as connection:
        return await campaign_records.load(connection, tenant_id, campaign_id)


async def send_campaign(ctx: Context, *, campaign_id: int, fields: SendCampaignFields) -> CampaignRecord:
    """Sends now (empty body) or schedules; while scheduled, either may be asked again."""
    tenant_id = ctx.require("send").tenant_id
    now = datetime.now(UTC)
    changes: dict[str, object] = {"updated_at": now}
    if fields.send_window is not None:
        changes["send_window"] = fields.send_window.model_dump()
    if fields.scheduled_at is not None:
        changes |= {
            "status": CampaignStatus.SCHEDULED.value,
            "scheduled_at": parse_schedule(fields.scheduled_at, now=now),
        }
    async with ctx.db.writing() as connection:
        current = await campaign_records.load(connection, tenant_id, campaign_id)
        if current.status not in SENDABLE:
            raise Conflict(
                f"campaign {campaign_id} is {current.status}; only a draft or scheduled one can be sent"
            )
        if fields.scheduled_at is None:
            changes |= await _start_values(connection, tenant_id, current, now)
        await _change(connection, campaign_id, [s.value for s in SENDABLE], changes)
        await emit_campaign_event(connection, tenant_id, campaign_id)  # campaign.scheduled or .started
        record = await campaign_records.load(connection, tenant_id, campaign_id)
    if record.status == CampaignStatus.SENDING:
        await start_fan_out(ctx, campaign_id)
    return record


async def cancel_campaign(ctx: Context, *, campaign_id: int) -> CampaignRecord:
    """Stops a scheduled or sending campaign: queued messages are cancelled, sent ones stay sent."""
    tenant_id = ctx.require("send").tenant_id
    now = datetime.now(UTC)
    changes = {"status": CampaignStatus.CANCELLED.value, "cancelled_at": now, "updated_at": now}
    async with ctx.db.writing() as connection:
        current = await campaign_records.load(connection, tenant_id, campaign_id)
        if current.status not in CANCELLABLE:
            raise Conflict(
                f"campaign {campaign_id} is {current.status}; "
                "only a scheduled or sending one can be cancelled"
            )
        await _change(connection, campaign_id, [s.value for s in CANCELLABLE], changes)
        await emit_campaign_event(connection, tenant_id, campaign_id, "campaign.cancelled")
    await cancel_queued(ctx.db, campaign_id, ctx.bus)
    async with ctx.db.reading() as connection:
        return await campaign_records.load(connection, tenant_id, campaign_id)


async def start_fan_out(ctx: Context, campaign_id: int) -> None:
    """After the commit; a lost enqueue only delays: the scheduler resumes silent fan-outs."""
    try:
        await ctx.task_queue().enqueue(FAN_OUT_ACTOR, [(campaign_id,)])
    except Exception:  # any broker failure: the scheduler picks the campaign up
        logger.exception("enqueue of campaign %d fan-out failed; the scheduler will resume it", campaign_id)


async def _start_values(
    connection: AsyncConnection, tenant_id: int, campaign: CampaignRecord, now: datetime
) -> dict[str, object]:
    return {
        "status": CampaignStatus.SENDING.value,
        "started_at": now,
        "audience_size": await audience_size(connection, tenant_id, campaign.audience),
        "fanout_heartbeat_at": now,
    }


async def _change(
    connection: AsyncConnection, campaign_id: int, from_statuses: list[str], changes: dict[str, object]
) -> None:
    """A conditional update: a concurrent change of status makes this one a 409."""
    statement = (
        update(CAMPAIGNS)
        .where(CAMPAIGNS.c.id == campaign_id, CAMPAIGNS.c.status.in_(from_statuses))
        .values(changes)
    )
    if not (await connection.execute(statement)).rowcount:
        raise Conflict(f"campaign {campaign_id} changed status meanwhile; read it and try again")
