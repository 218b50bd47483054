"""Webhook endpoints: the events catalog, register (secret shown once), list, delete, rotate, enable."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from gateway.settings import Settings
from resolvers.context import Context
from resolvers.errors import ValidationFailed, field_error
from resolvers.pagination import Page, page_request
from resolvers.ssrf import UnresolvableHost, UnsafeTarget, check_url, resolve_public
from resolvers.webhook_catalog import catalog
from resolvers.webhook_fields import WebhookFields
from resolvers.webhook_records import ENDPOINT_COLUMNS, ENDPOINTS, EndpointRecord, load_endpoint
from resolvers.webhook_signing import new_secret

MAX_ENDPOINTS = 50
RESOLVE_TIMEOUT_SECONDS = 5.0


async def events_catalog(ctx: Context) -> dict[str, Any]:
    ctx.require("read")
    return catalog()


async def list_endpoints(ctx: Context, *, page: int | None, per_page: int | None) -> Page[EndpointRecord]:
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    mine = ENDPOINTS.c.tenant_id == tenant_id
    query = select(*ENDPOINT_COLUMNS).where(mine).order_by(ENDPOINTS.c.id.desc())
    async with ctx.db.reading() as connection:
        total = (
            await connection.execute(select(func.count()).select_from(ENDPOINTS).where(mine))
        ).scalar_one()
        rows = await connection.execute(query.offset(request.offset).limit(request.per_page))
        items = [EndpointRecord(*row) for row in rows]
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)


async def get_endpoint(ctx: Context, *, endpoint_id: int) -> EndpointRecord:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.reading() as connection:
        return await load_endpoint(connection, tenant_id, endpoint_id)


async def create_endpoint(ctx: Context, *, fields: WebhookFields) -> EndpointRecord:
    """Answers with the signing secret, which is never shown again."""
    tenant_id = ctx.require("write").tenant_id
    await check_target(ctx.settings, fields.url)
    profile, events, channel = fields.subscription()
    now, secret = datetime.now(UTC), new_secret()
    values = {
        "tenant_id": tenant_id, "url": fields.url, "description": fields.description,
        "delivery_profile": profile, "events": events, "channel": channel, "secret": secret,
        "status": "enabled", "created_at": now, "updated_at": now,
    }  # fmt: skip
    async with ctx.db.writing() as connection:
        count = select(func.count()).select_from(ENDPOINTS).where(ENDPOINTS.c.tenant_id == tenant_id)
        if (await connection.execute(count)).scalar_one() >= MAX_ENDPOINTS:
            raise ValidationFailed(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint_id = (
            await connection.execute(insert(ENDPOINTS).values(values).returning(ENDPOINTS.c.id))
        ).scalar_one()
        record = await load_endpoint(connection, tenant_id, endpoint_id)
    return dataclasses.replace(record, secret=secret)


async def delete_endpoint(ctx: Context, *, endpoint_id: int) -> int:
    """Its deliveries and their attempts go with it."""
    tenant_id = ctx.require("write").tenant_id
    async with ctx.db.writing() as connection:
        await load_endpoint(connection, tenant_id, endpoint_id)
        await connection.execute(delete(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id))
    return endpoint_id


async def rotate_secret(ctx: Context, *, endpoint_id: int) -> EndpointRecord:
    """A new secret, shown this once; the old one keeps signing too for `webhook_secret_overlap_seconds`."""
    tenant_id = ctx.require("write").tenant_id
    now, secret = datetime.now(UTC), new_secret()
    overlap = now + timedelta(seconds=ctx.settings.webhook_secret_overlap_seconds)
    async with ctx.db.writing() as connection:
        await load_endpoint(connection, tenant_id, endpoint_id)
        await connection.execute(
            update(ENDPOINTS)
            .where(ENDPOINTS.c.id == endpoint_id)
            .values(
                previous_secret=ENDPOINTS.c.secret, previous_secret_expires_at=overlap, secret=secret,
                updated_at=now,
            )
        )  # fmt: skip
        record = await load_endpoint(connection, tenant_id, endpoint_id)
    return dataclasses.replace(record, secret=secret)


async def enable_endpoint(ctx: Context, *, endpoint_id: int) -> EndpointRecord:
    """Turns a disabled endpoint back on (after fixing the receiver); its failure clock restarts."""
    tenant_id = ctx.require("write").tenant_id
    now = datetime.now(UTC)
    async with ctx.db.writing() as connection:
        await load_endpoint(connection, tenant_id, endpoint_id)
        await connection.execute(
            update(ENDPOINTS)
            .where(ENDPOINTS.c.id == endpoint_id)
            .values(
                status="enabled", disabled_reason=None, disabled_at=None, failing_since=None, updated_at=now
            )
        )
        return await load_endpoint(connection, tenant_id, endpoint_id)


async def check_target(settings: Settings, url: str, *, field: str = "url") -> None:
    """The SSRF guard at registration: a host that does not resolve now is checked at each delivery."""
    allow_private = settings.webhook_allow_private
    try:
        host, port = check_url(url, allow_private=allow_private, require_https=settings.is_production)
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            await resolve_public(host, port, allow_private=allow_private)
    except (UnresolvableHost, TimeoutError):
        return
    except UnsafeTarget as error:
        raise field_error(field, str(error)) from None
