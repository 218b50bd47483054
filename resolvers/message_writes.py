"""Bulk message inserts that skip a contact the campaign already reached (the unique constraint)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import upsert_insert
from resolvers.campaign_content import Content
from resolvers.campaign_recipients import CampaignDraft
from resolvers.message_status import MessageStatus
from resolvers.message_store import MESSAGES

CAMPAIGN_CONTACT = ("campaign_id", "contact_id")


async def insert_new_messages(
    connection: AsyncConnection,
    *,
    tenant_id: int,
    campaign_id: int,
    content: Content,
    drafts: list[CampaignDraft],
    now: datetime,
) -> list[int]:
    """Inserts one `queued` message per draft; returns the ids of those actually inserted."""
    if not drafts:
        return []
    route = content.route
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": tenant_id, "integration_id": route.integration_id, "campaign_id": campaign_id,
            "contact_id": draft.contact_id, "channel": content.channel, "route": route.kind,
            "provider": route.provider, "sender": route.sender, "to": draft.to, "subject": draft.subject,
            "body": draft.body, "template_key": content.template_key, "variables": draft.variables,
            "status": MessageStatus.QUEUED.value, "attempts": 0, "created_at": now, "updated_at": now,
        }
        for draft in drafts
    ]  # fmt: skip
    statement = (
        upsert_insert(connection, MESSAGES)
        .on_conflict_do_nothing(index_elements=list(CAMPAIGN_CONTACT))
        .returning(MESSAGES.c.id)
    )
    return sorted((await connection.execute(statement, rows)).scalars())
