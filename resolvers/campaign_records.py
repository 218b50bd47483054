"""How a campaign reads back: its settings, lifecycle times and summed counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables.columns import MAX_ID
from resolvers import campaign_counters
from resolvers.campaign_counters import CAMPAIGNS
from resolvers.errors import NotFound

COLUMNS = (
    CAMPAIGNS.c.id, CAMPAIGNS.c.name, CAMPAIGNS.c.channel, CAMPAIGNS.c.status, CAMPAIGNS.c.message_template,
    CAMPAIGNS.c.template_key, CAMPAIGNS.c.subject, CAMPAIGNS.c.integration_id, CAMPAIGNS.c.sms_routing,
    CAMPAIGNS.c.audience, CAMPAIGNS.c.send_window, CAMPAIGNS.c.scheduled_at, CAMPAIGNS.c.started_at,
    CAMPAIGNS.c.completed_at, CAMPAIGNS.c.cancelled_at, CAMPAIGNS.c.audience_size, CAMPAIGNS.c.created_at,
    CAMPAIGNS.c.updated_at,
)  # fmt: skip
SETTLED_BUCKETS = ("skipped", "sent", "delivered", "read", "undelivered", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: int
    name: str
    channel: str
    status: str
    message_template: str | None
    template_key: str | None
    subject: str | None
    integration_id: int | None
    sms_routing: str | None
    audience: dict[str, Any]
    send_window: dict[str, Any] | None
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    audience_size: int
    created_at: datetime
    updated_at: datetime
    stats: dict[str, int]

    @property
    def delivery_rate(self) -> float:
        """Percent of the messages created (skipped contacts aside) that reached the recipient."""
        created = self.stats["total"] - self.stats["skipped"]
        reached = self.stats["delivered"] + self.stats["read"]
        return round(100 * reached / created, 2) if created else 0.0

    @property
    def progress(self) -> float:
        """Percent of the audience that has left the queue (sent, skipped, failed, ...)."""
        if self.status in ("completed", "cancelled"):
            return 100.0
        if self.status in ("draft", "scheduled") or not self.audience_size:
            return 0.0
        settled = sum(self.stats[name] for name in SETTLED_BUCKETS)
        return min(99.9, round(100 * settled / self.audience_size, 1))

    def public(self) -> dict[str, Any]:
        """The campaign as both APIs show it (an explicit list of contacts is summarised)."""
        return {
            "id": self.id, "name": self.name, "channel": self.channel, "status": self.status,
            "message_template": self.message_template, "template_key": self.template_key,
            "subject": self.subject, "integration_id": self.integration_id, "sms_routing": self.sms_routing,
            "audience": audience_summary(self.audience), "send_window": self.send_window,
            "scheduled_at": self.scheduled_at, "started_at": self.started_at,
            "completed_at": self.completed_at, "cancelled_at": self.cancelled_at,
            "stats": self.stats, "delivery_rate": self.delivery_rate, "progress": self.progress,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }  # fmt: skip


def audience_summary(audience: dict[str, Any]) -> dict[str, Any]:
    if "contact_ids" in audience:
        return {"type": "contacts", "contact_count": len(audience["contact_ids"])}
    if audience.get("tags"):
        return {"type": "tags", "tags": audience["tags"], "tag_match": audience.get("tag_match", "any")}
    return {"type": "all"}


def select_campaigns(tenant_id: int) -> Select[Any]:
    return select(*COLUMNS).where(CAMPAIGNS.c.tenant_id == tenant_id)


async def records(connection: AsyncConnection, query: Select[Any]) -> list[CampaignRecord]:
    """The campaigns `query` selects (with COLUMNS), their counters summed in one more query."""
    rows = list(await connection.execute(query))
    stats = await campaign_counters.totals(connection, [row.id for row in rows])
    return [CampaignRecord(*row, stats[row.id]) for row in rows]  # type: ignore[call-arg]


async def load(connection: AsyncConnection, tenant_id: int, campaign_id: int) -> CampaignRecord:
    if not 0 < campaign_id <= MAX_ID:
        raise NotFound(f"campaign {campaign_id} not found")
    found = await records(connection, select_campaigns(tenant_id).where(CAMPAIGNS.c.id == campaign_id))
    if not found:
        raise NotFound(f"campaign {campaign_id} not found")
    return found[0]
