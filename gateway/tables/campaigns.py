"""Campaigns: one message to each contact of an audience, and their delivery counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now

# Delivery updates spread over this many counter rows per campaign, so concurrent workers on
# PostgreSQL rarely wait on the same row; a status read sums them.
COUNTER_SHARDS = 8


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_tenant_id_id", "tenant_id", "id"),
        Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    channel: str = Field(max_length=16)
    message_template: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    template_key: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=500)
    integration_id: int | None = Field(default=None, foreign_key="integrations.id", ondelete="SET NULL")
    sms_routing: str | None = Field(default=None, max_length=16)
    # {"tags": [...], "tag_match": "any" | "all"} or {"contact_ids": [...]}; {} is every contact.
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {"start": "09:00", "end": "20:00", "timezone": "Europe/Bucharest"} or None.
    send_window: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="draft", max_length=16)
    scheduled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    started_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    # The audience's size when sending started: the denominator of `progress`.
    audience_size: int = 0
    # Fan-out progress: contacts up to this id are done; a killed fan-out resumes after it.
    fanout_cursor: int = 0
    fanout_done: bool = False
    # Touched by every fan-out chunk; a fan-out silent for too long is resumed by the scheduler.
    fanout_heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    # Outside the send window the fan-out pauses until this time.
    fanout_resume_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class CampaignCounter(SQLModel, table=True):
    """One shard of a campaign's counts: every bucket is a message status (or `skipped`)."""

    __tablename__ = "campaign_counters"

    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True, ondelete="CASCADE")
    shard: int = Field(primary_key=True)
    total: int = 0
    skipped: int = 0
    queued: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    undelivered: int = 0
    failed: int = 0
    cancelled: int = 0
