"""Turns send inputs into drafts: the route, the template, and the rendered text per recipient."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables import OptOut
from gateway.tables.columns import table_of
from resolvers import plan_cache
from resolvers.addresses import normalize_recipient
from resolvers.context import Context
from resolvers.errors import ValidationFailed, field_error
from resolvers.integrations import Route, resolve_route
from resolvers.message_fields import ContentFields
from resolvers.rendering import render
from resolvers.templates import TemplateRecord, find_template

OPT_OUTS = table_of(OptOut)
MAX_SMS_CHARS = 1600
HEADING = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")


class RecipientOptedOut(ValidationFailed):
    code = "recipient_opted_out"


def opted_out_error(address: str, channel: str) -> RecipientOptedOut:
    return RecipientOptedOut(f"{address} opted out of {channel}", fields={"to": ["opted out"]})


@dataclass(frozen=True, slots=True)
class Plan:
    """What every recipient of one request shares."""

    tenant_id: int
    channel: str
    route: Route
    template: TemplateRecord | None
    fields: ContentFields


@dataclass(frozen=True, slots=True)
class Draft:
    to: str
    subject: str | None
    body: str
    variables: dict[str, Any]


async def plan(ctx: Context, fields: ContentFields, connection: AsyncConnection) -> Plan:
    """The route and template of a send, read on `connection` (the request's one read connection)."""
    tenant_id = ctx.require("send").tenant_id
    require_content(fields)
    route, template = await _route_and_template(connection, ctx, tenant_id, fields)
    return Plan(tenant_id=tenant_id, channel=fields.channel, route=route, template=template, fields=fields)


async def cached_plan(ctx: Context, fields: ContentFields) -> Plan:
    """`plan`, from `plan_cache` when a send on the same route read it a moment ago."""
    tenant_id = ctx.require("send").tenant_id
    require_content(fields)
    template_key = fields.template_key if fields.body is None else None
    key = (ctx.db.url, tenant_id, fields.channel, fields.integration_id, fields.sms_routing, template_key)
    found = plan_cache.kept(key)
    if found is None:
        async with ctx.db.reading() as connection:
            found = await _route_and_template(connection, ctx, tenant_id, fields)
        plan_cache.keep(key, *found)
    route, template = found
    return Plan(tenant_id=tenant_id, channel=fields.channel, route=route, template=template, fields=fields)


async def _route_and_template(
    connection: AsyncConnection, ctx: Context, tenant_id: int, fields: ContentFields
) -> tuple[Route, TemplateRecord | None]:
    route = await resolve_route(
        connection,
        ctx.settings,
        tenant_id=tenant_id,
        channel=fields.channel,
        integration_id=fields.integration_id,
        sms_routing=fields.sms_routing,
    )
    template = None
    if fields.body is None and fields.template_key is not None:
        template = await find_template(connection, tenant_id, fields.template_key)
        if template is None:
            raise field_error("template_key", f"no template '{fields.template_key}'")
        if template.channel != fields.channel:
            raise field_error("template_key", f"'{template.key}' is a {template.channel} template")
    return route, template


def require_content(fields: ContentFields) -> None:
    if fields.template_key is None and fields.body is None:
        message = "give template_key or body"
        raise ValidationFailed(message, fields={"template_key": [message], "body": [message]})


def draft(plan: Plan, to: str, variables: dict[str, Any], *, field_prefix: str = "") -> Draft:
    """One recipient's message; a 422 names the offending field under `field_prefix`."""
    address = normalize_recipient(plan.channel, to, field=f"{field_prefix}to")
    html = plan.channel == "email"
    source = plan.fields.body if plan.template is None else plan.template.body
    assert source is not None  # plan() required a body or a template
    body = render(source, variables, html=html)
    subject_source = plan.fields.subject or (plan.template.subject if plan.template else None)
    subject = render(subject_source, variables, field="subject") if subject_source else None
    if plan.channel == "email" and not subject:
        subject = derived_subject(body)
    if plan.channel == "sms" and len(body) > MAX_SMS_CHARS:
        raise field_error(
            f"{field_prefix}body", f"an SMS is at most {MAX_SMS_CHARS} characters once rendered"
        )
    return Draft(to=address, subject=subject, body=body, variables=variables)


def derived_subject(html: str) -> str:
    """An email without a subject takes its <title> or first <h1>, else its first words."""
    heading = HEADING.search(html)
    text = TAG.sub(" ", heading.group(2) if heading else html)
    words = " ".join(unescape(text).split())
    return words[:78] or "(no subject)"


async def opted_out(connection: AsyncConnection, plan: Plan, addresses: list[str]) -> set[str]:
    """The addresses among these that opted out of the plan's channel."""
    if not addresses:
        return set()
    query = select(OPT_OUTS.c.address).where(
        OPT_OUTS.c.tenant_id == plan.tenant_id,
        OPT_OUTS.c.channel == plan.channel,
        OPT_OUTS.c.address.in_(addresses),
    )
    return {row.address for row in await connection.execute(query)}
