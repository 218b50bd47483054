"""Each tenant's call-signing secret: signs the status callbacks to a call's `webhook_url` the
way webhook endpoints' secrets sign theirs (Standard Webhooks). Made on first use; rotating it
replaces it at once (receivers verify with the new one from then on)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import upsert_insert
from gateway.tables import CallSigningSecret
from gateway.tables.columns import table_of
from resolvers.context import Context
from resolvers.webhook_signing import new_secret

SECRETS = table_of(CallSigningSecret)


async def signing_secret(connection: AsyncConnection, tenant_id: int) -> str:
    """The tenant's secret, made now if it has none (a concurrent maker wins; its secret is used)."""
    query = select(SECRETS.c.secret).where(SECRETS.c.tenant_id == tenant_id)
    found = (await connection.execute(query)).scalar()
    if found is not None:
        return str(found)
    values = {"tenant_id": tenant_id, "secret": new_secret(), "created_at": datetime.now(UTC)}
    await connection.execute(upsert_insert(connection, SECRETS).values(values).on_conflict_do_nothing())
    return str((await connection.execute(query)).scalar_one())


async def get_signing_secret(ctx: Context) -> str:
    tenant_id = ctx.require("write").tenant_id
    async with ctx.db.writing() as connection:
        return await signing_secret(connection, tenant_id)


async def rotate_signing_secret(ctx: Context) -> str:
    tenant_id = ctx.require("write").tenant_id
    async with ctx.db.writing() as connection:
        await signing_secret(connection, tenant_id)
        secret = new_secret()
        await connection.execute(
            update(SECRETS).where(SECRETS.c.tenant_id == tenant_id).values(secret=secret)
        )
        return secret
