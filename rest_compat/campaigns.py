"""REST translation of the campaign resolvers (the contract's four paths, plus cancel)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import campaigns
from resolvers.campaign_fields import CampaignFields, SendCampaignFields
from resolvers.context import Context
from resolvers.pagination import Page
from resolvers.validation import parse_input
from rest_compat.envelope import data_response, page_response
from rest_compat.request import int_path, int_query, json_body
from rest_compat.table import Endpoint


async def list_campaigns(request: Request, ctx: Context) -> Response:
    page = await campaigns.list_campaigns(
        ctx,
        page=int_query(request, "page"),
        per_page=int_query(request, "per_page"),
        status=request.query_params.get("status"),
    )
    public = Page([item.public() for item in page.items], page.page, page.per_page, page.total)
    return page_response(public)


async def create_campaign(request: Request, ctx: Context) -> Response:
    fields = parse_input(CampaignFields, await json_body(request))
    return data_response((await campaigns.create_campaign(ctx, fields=fields)).public(), status=201)


async def send_campaign(request: Request, ctx: Context) -> Response:
    """An empty body (or `{}`) sends now; `{"scheduled_at": ...}` schedules."""
    campaign_id = int_path(request, "id")
    raw = await request.body()
    fields = (
        parse_input(SendCampaignFields, await json_body(request)) if raw.strip() else SendCampaignFields()
    )
    record = await campaigns.send_campaign(ctx, campaign_id=campaign_id, fields=fields)
    return data_response(record.public(), status=202)


async def campaign_status(request: Request, ctx: Context) -> Response:
    record = await campaigns.get_campaign(ctx, campaign_id=int_path(request, "id"))
    return data_response(record.public())


async def cancel_campaign(request: Request, ctx: Context) -> Response:
    record = await campaigns.cancel_campaign(ctx, campaign_id=int_path(request, "id"))
    return data_response(record.public())


BASE = "/integrations/campaigns"
ENDPOINTS = (
    Endpoint("GET", BASE, "read", list_campaigns, "List campaigns", "Campaigns",
             query=("page", "per_page", "status"), list_response=True),
    Endpoint("POST", BASE, "write", create_campaign, "Create campaign", "Campaigns", 201, CampaignFields),
    Endpoint("POST", BASE + "/{id}/send", "send", send_campaign, "Send or schedule campaign", "Campaigns",
             202, SendCampaignFields, extra_statuses=(409,)),
    Endpoint("GET", BASE + "/{id}/status", "read", campaign_status, "Campaign delivery status & stats",
             "Campaigns"),
    Endpoint("POST", BASE + "/{id}/cancel", "send", cancel_campaign,
             "Cancel a scheduled or sending campaign: queued messages are cancelled", "Campaigns",
             extra_statuses=(409,), extension=True),
)  # fmt: skip
