"""Which contacts of a chunk get a message: an address for the channel, not opted out, renderable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers.campaign_content import Content, contact_variables, render_for
from resolvers.composing import OPT_OUTS
from resolvers.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    contact_id: int
    to: str
    subject: str | None
    body: str
    variables: dict[str, Any]


@dataclass(slots=True)
class Recipients:
    drafts: list[CampaignDraft] = field(default_factory=list)
    skipped: int = 0


def address_of(contact: Any, channel: str) -> str | None:
    """Email campaigns go to the contact's email; SMS and WhatsApp to the phone (E.164 already)."""
    address: str | None = contact.email if channel == "email" else contact.phone
    return address


async def pick_recipients(
    connection: AsyncConnection, tenant_id: int, content: Content, contacts: list[Any]
) -> Recipients:
    picked = Recipients()
    addressed = [(contact, address_of(contact, content.channel)) for contact in contacts]
    opted_out = await _opted_out(
        connection, tenant_id, content.channel, [address for _, address in addressed if address]
    )
    for contact, address in addressed:
        if not address or address in opted_out:
            picked.skipped += 1
            continue
        variables = contact_variables(contact)
        try:
            subject, body = render_for(content, variables)
        except ValidationFailed:  # e.g. {{ metadata.city }} for a contact without a city
            picked.skipped += 1
            continue
        picked.drafts.append(CampaignDraft(contact.id, address, subject, body, variables))
    return picked


async def _opted_out(
    connection: AsyncConnection, tenant_id: int, channel: str, addresses: list[str]
) -> set[str]:
    if not addresses:
        return set()
    query = select(OPT_OUTS.c.address).where(
        OPT_OUTS.c.tenant_id == tenant_id, OPT_OUTS.c.channel == channel, OPT_OUTS.c.address.in_(addresses)
    )
    return set((await connection.execute(query)).scalars())
