"""Voice calls: the call, its status transitions, the status callbacks to its `webhook_url`, and
each tenant's call-signing secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now


class Call(SQLModel, table=True):
    """One outbound call that speaks `message`; committed `queued` before a worker places it."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_id_id", "tenant_id", "id"),
        Index("ix_calls_provider_call_id", "provider", "provider_call_id"),
        Index("ix_calls_status_updated_at", "status", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    integration_id: int | None = Field(default=None, foreign_key="integrations.id", ondelete="SET NULL")
    provider: str = Field(max_length=32)
    sender: str | None = Field(default=None, max_length=64)
    to: str = Field(max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))
    voice: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    webhook_url: str | None = Field(default=None, max_length=2048)
    status: str = Field(default="queued", max_length=16)
    provider_call_id: str | None = Field(default=None, max_length=128)
    attempts: int = Field(default=0)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class CallEvent(SQLModel, table=True):
    """A call's transition, with when it happened."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_call_id_id", "call_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    call_id: int = Field(foreign_key="calls.id", ondelete="CASCADE")
    status: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class CallCallback(SQLModel, table=True):
    """One transition to POST to the call's `webhook_url`; posted in order, retried on failure."""

    __tablename__ = "call_callbacks"
    __table_args__ = (
        Index("ix_call_callbacks_call_id_id", "call_id", "id"),
        Index("ix_call_callbacks_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    call_id: int = Field(foreign_key="calls.id", ondelete="CASCADE")
    webhook_id: str = Field(max_length=64)  # the same on every attempt
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, delivered, failed
    attempt_count: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class CallSigningSecret(SQLModel, table=True):
    """The secret that signs a tenant's call status callbacks (made on first use)."""

    __tablename__ = "call_signing_secrets"

    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
