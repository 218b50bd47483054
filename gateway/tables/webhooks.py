"""Outgoing webhooks: endpoints, the events outbox, deliveries with their attempts, dispatch cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now


class WebhookEndpoint(SQLModel, table=True):
    """A tenant's receiving URL and the events it wants; its secrets sign every delivery."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_tenant_id_id", "tenant_id", "id"),
        Index("ix_webhook_endpoints_tenant_id_status", "tenant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    delivery_profile: str | None = Field(default=None, max_length=32)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    channel: str | None = Field(default=None, max_length=16)  # only this channel's events (a profile's)
    secret: str = Field(max_length=64)  # "whsec_" + base64 of 32 random bytes
    # After a rotation the old secret keeps signing too, until this time.
    previous_secret: str | None = Field(default=None, max_length=64)
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime, nullable=True)
    )
    status: str = Field(default="enabled", max_length=16)  # "enabled" or "disabled"
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    # The first failed attempt since the last success; failing this long disables the endpoint.
    failing_since: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class WebhookEvent(SQLModel, table=True):
    """The outbox of events other than message statuses (contacts, campaigns, calls, webhooks),
    written in the transaction of the change; its id is the dispatcher's cursor."""

    __tablename__ = "webhook_events"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    type: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: the same `webhook_id` and body on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", ondelete="CASCADE")
    event_type: str = Field(max_length=64)
    webhook_id: str = Field(max_length=40)  # "msg_...": the `webhook-id` header
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, succeeded, failed, exhausted
    attempt_count: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    # While an attempt runs, the worker holding it; another may take over once this passes.
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class WebhookAttempt(SQLModel, table=True):
    """One HTTP request of a delivery, and what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id", ondelete="CASCADE")
    started_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    duration_ms: int = 0
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    response_snippet: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # first 1 KB


class WebhookDispatchCursor(SQLModel, table=True):
    """How far the dispatcher has read a stream (`message_events`, `webhook_events`), and who reads it."""

    __tablename__ = "webhook_dispatch_cursors"

    stream: str = Field(primary_key=True, max_length=32)
    position: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
