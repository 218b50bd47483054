"""A contact's opt-outs through the API: list them, opt the contact out of a channel or back in.

An opt-out belongs to an address (the contact's phone for sms and whatsapp, its email for email),
so it outlives the contact and also covers sends to the address without one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables.columns import MAX_ID
from resolvers import opt_outs
from resolvers.addresses import MESSAGE_CHANNELS
from resolvers.contact_records import CONTACTS
from resolvers.context import Context
from resolvers.errors import NotFound, field_error
from resolvers.opt_outs import OptOutRecord

SOURCE = "api"


class OptOutFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "email", "whatsapp"]


async def contact_opt_outs(ctx: Context, *, contact_id: int) -> list[OptOutRecord]:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.reading() as connection:
        email, phone = await _addresses(connection, tenant_id, contact_id)
        return await opt_outs.opt_outs_of(connection, tenant_id, email=email, phone=phone)


async def opt_out_contact(ctx: Context, *, contact_id: int, channel: str) -> list[OptOutRecord]:
    """Idempotent: a contact already opted out keeps its first record (and its source)."""
    return await _change(ctx, contact_id, channel, opt_outs.opt_out)


async def opt_in_contact(ctx: Context, *, contact_id: int, channel: str) -> list[OptOutRecord]:
    return await _change(ctx, contact_id, channel, opt_outs.opt_in)


async def _change(ctx: Context, contact_id: int, channel: str, change: opt_outs.Change) -> list[OptOutRecord]:
    tenant_id = ctx.require("write").tenant_id
    if channel not in MESSAGE_CHANNELS:
        raise field_error("channel", f"one of {', '.join(MESSAGE_CHANNELS)}")
    async with ctx.db.writing() as connection:
        email, phone = await _addresses(connection, tenant_id, contact_id)
        address = email if channel == "email" else phone
        if address is None:
            raise field_error("channel", f"the contact has no {'email' if channel == 'email' else 'phone'}")
        await change(connection, tenant_id=tenant_id, channel=channel, address=address, source=SOURCE)
        return await opt_outs.opt_outs_of(connection, tenant_id, email=email, phone=phone)


async def _addresses(
    connection: AsyncConnection, tenant_id: int, contact_id: int
) -> tuple[str | None, str | None]:
    if not 0 < contact_id <= MAX_ID:
        raise NotFound(f"contact {contact_id} not found")
    query = select(CONTACTS.c.email, CONTACTS.c.phone).where(
        CONTACTS.c.id == contact_id, CONTACTS.c.tenant_id == tenant_id
    )
    row = (await connection.execute(query)).first()
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return row.email, row.phone
