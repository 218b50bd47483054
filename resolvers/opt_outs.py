"""Recording and lifting opt-outs (a tenant must not message an address on a channel), with their
webhook events written in the same transaction.

`opt_out` and `opt_in` run inside the caller's transaction and are idempotent: opting out twice
keeps the first record and emits `contact.opted_out` once; opting in when not opted out does nothing.
Sends check the records in `resolvers.composing.opted_out`, campaign audiences in
`resolvers.campaign_recipients`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import upsert_insert
from resolvers.composing import OPT_OUTS
from resolvers.contact_records import CONTACTS
from resolvers.webhook_events import emit_event

OPTED_OUT = "contact.opted_out"
OPTED_IN = "contact.opted_in"
PHONE_CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True, slots=True)
class ContactAddresses:
    """Whose opt-outs to read: a contact's email and phone, in its tenant."""

    tenant_id: int
    email: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class OptOutRecord:
    channel: str
    address: str
    source: str
    created_at: datetime


class Change(Protocol):
    """`opt_out` or `opt_in`."""

    async def __call__(
        self, connection: AsyncConnection, *, tenant_id: int, channel: str, address: str, source: str
    ) -> bool: ...


async def opt_out(
    connection: AsyncConnection, *, tenant_id: int, channel: str, address: str, source: str
) -> bool:
    """Records the opt-out; True when it is new (and `contact.opted_out` was emitted)."""
    values = {
        "tenant_id": tenant_id, "channel": channel, "address": address, "source": source,
        "created_at": datetime.now(UTC),
    }  # fmt: skip
    statement = (
        upsert_insert(connection, OPT_OUTS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "channel", "address"])
        .returning(OPT_OUTS.c.id)
    )
    if (await connection.execute(statement)).first() is None:
        return False
    data = await _event_data(connection, tenant_id, channel, address, source)
    await emit_event(connection, tenant_id, OPTED_OUT, data)
    return True


async def opt_in(
    connection: AsyncConnection, *, tenant_id: int, channel: str, address: str, source: str
) -> bool:
    """Lifts the opt-out; True when there was one (and `contact.opted_in` was emitted)."""
    statement = (
        delete(OPT_OUTS)
        .where(
            OPT_OUTS.c.tenant_id == tenant_id, OPT_OUTS.c.channel == channel, OPT_OUTS.c.address == address
        )
        .returning(OPT_OUTS.c.id)
    )
    if (await connection.execute(statement)).first() is None:
        return False
    data = await _event_data(connection, tenant_id, channel, address, source)
    await emit_event(connection, tenant_id, OPTED_IN, data)
    return True


async def is_opted_out(connection: AsyncConnection, *, tenant_id: int, channel: str, address: str) -> bool:
    query = select(OPT_OUTS.c.id).where(
        OPT_OUTS.c.tenant_id == tenant_id, OPT_OUTS.c.channel == channel, OPT_OUTS.c.address == address
    )
    return (await connection.execute(query.limit(1))).first() is not None


async def opt_outs_of(
    connection: AsyncConnection, tenant_id: int, *, email: str | None, phone: str | None
) -> list[OptOutRecord]:
    """The opt-outs recorded for these addresses (a contact's), oldest first."""
    [records] = await opt_outs_of_many(connection, tenant_id, [(email, phone)])
    return records


async def opt_outs_of_many(
    connection: AsyncConnection, tenant_id: int, contacts: Sequence[tuple[str | None, str | None]]
) -> list[list[OptOutRecord]]:
    """The opt-outs of each (email, phone) pair, oldest first, in one query."""
    wanted = [_wanted(email, phone) for email, phone in contacts]
    addresses = {address for pairs in wanted for _, address in pairs}
    if not addresses:
        return [[] for _ in contacts]
    query = (
        select(OPT_OUTS.c.channel, OPT_OUTS.c.address, OPT_OUTS.c.source, OPT_OUTS.c.created_at)
        .where(OPT_OUTS.c.tenant_id == tenant_id, OPT_OUTS.c.address.in_(addresses))
        .order_by(OPT_OUTS.c.id)
    )
    rows = [OptOutRecord(*row) for row in await connection.execute(query)]
    return [[row for row in rows if (row.channel, row.address) in pairs] for pairs in wanted]


def _wanted(email: str | None, phone: str | None) -> set[tuple[str, str]]:
    by_phone = {(channel, phone) for channel in PHONE_CHANNELS if phone}
    return by_phone | ({("email", email)} if email else set())


async def contact_with(connection: AsyncConnection, tenant_id: int, channel: str, address: str) -> int | None:
    """The id of the tenant's contact with this address on this channel, if any."""
    column = CONTACTS.c.email if channel == "email" else CONTACTS.c.phone
    query = select(CONTACTS.c.id).where(CONTACTS.c.tenant_id == tenant_id, column == address).limit(1)
    found = (await connection.execute(query)).scalar()
    return int(found) if found is not None else None


async def _event_data(
    connection: AsyncConnection, tenant_id: int, channel: str, address: str, source: str
) -> dict[str, object]:
    contact_id = await contact_with(connection, tenant_id, channel, address)
    return {"contact_id": contact_id, "channel": channel, "address": address, "source": source}
