"""GraphQL fields for campaigns, each calling the same resolver as REST (so the same error codes)."""

from __future__ import annotations

from typing import Any

from resolvers import campaigns
from resolvers.campaign_fields import CampaignFields, SendCampaignFields
from resolvers.validation import parse_input
from schema.campaign_types import Campaign, CampaignInput, CampaignPage, SendWindowInput, given
from schema.context import GraphQLInfo


async def resolve_campaigns(
    info: GraphQLInfo, page: int | None = None, per_page: int | None = None, status: str | None = None
) -> CampaignPage:
    result = await campaigns.list_campaigns(info.context.domain, page=page, per_page=per_page, status=status)
    return CampaignPage(
        items=[Campaign.from_record(record) for record in result.items],
        total_count=result.total,
        page=result.page,
        per_page=result.per_page,
        last_page=result.last_page,
    )


async def resolve_campaign(info: GraphQLInfo, id: int) -> Campaign:
    return Campaign.from_record(await campaigns.get_campaign(info.context.domain, campaign_id=id))


async def create_campaign(info: GraphQLInfo, input: CampaignInput) -> Campaign:
    fields = parse_input(CampaignFields, given(input))
    return Campaign.from_record(await campaigns.create_campaign(info.context.domain, fields=fields))


async def send_campaign(info: GraphQLInfo, id: int, send_window: SendWindowInput | None = None) -> Campaign:
    """Sends a draft (or a scheduled campaign) now."""
    return await _send(info, id, {}, send_window)


async def schedule_campaign(
    info: GraphQLInfo, id: int, scheduled_at: str, send_window: SendWindowInput | None = None
) -> Campaign:
    """Schedules a draft, or moves a scheduled campaign's time (ISO 8601; no offset means UTC)."""
    return await _send(info, id, {"scheduled_at": scheduled_at}, send_window)


async def cancel_campaign(info: GraphQLInfo, id: int) -> Campaign:
    """Stops a scheduled or sending campaign: its queued messages are cancelled."""
    return Campaign.from_record(await campaigns.cancel_campaign(info.context.domain, campaign_id=id))


async def _send(
    info: GraphQLInfo, campaign_id: int, body: dict[str, Any], send_window: SendWindowInput | None
) -> Campaign:
    if send_window is not None:
        body["send_window"] = given(send_window)
    fields = parse_input(SendCampaignFields, body)
    record = await campaigns.send_campaign(info.context.domain, campaign_id=campaign_id, fields=fields)
    return Campaign.from_record(record)
