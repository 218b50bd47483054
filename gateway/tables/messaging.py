"""Messages, their status events, and idempotency records of send requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now


def where(column: str) -> dict[str, Any]:
    """A partial index's options: only the rows where `column` is set, on either database."""
    condition = text(f"{column} IS NOT NULL")
    return {"postgresql_where": condition, "sqlite_where": condition}


class Message(SQLModel, table=True):
    """One message to one recipient; `status` only moves forward (see resolvers.message_status)."""

    __tablename__ = "messages"
    # Indexes on a column most rows leave empty hold only the rows that have it (migration 0008):
    # every status change rewrites a row's entry in each index it is in, so a message outside a
    # campaign, or not sent yet, costs no write in those. Lookups name a value, which implies it.
    __table_args__ = (
        Index("ix_messages_tenant_id_id", "tenant_id", "id"),
        Index("ix_messages_status_updated_at", "status", "updated_at"),
        # Led by the id, all but unique: a receipt's lookup reads only its own rows (migration 0007).
        Index(
            "ix_messages_provider_message_id",
            "provider_message_id",
            "provider",
            **where("provider_message_id"),
        ),
        Index("ix_messages_campaign_id_status", "campaign_id", "status", **where("campaign_id")),
        # A campaign's messages, newest first.
        Index("ix_messages_campaign_id_id", "campaign_id", "id", **where("campaign_id")),
        Index("ix_messages_batch_id", "batch_id", **where("batch_id")),
        # A campaign reaches each contact at most once, whatever crashes and retries happen.
        UniqueConstraint("campaign_id", "contact_id", name="uq_messages_campaign_contact"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    integration_id: int | None = Field(default=None, foreign_key="integrations.id", ondelete="SET NULL")
    batch_id: str | None = Field(default=None, max_length=32)
    channel: str = Field(max_length=16)
    route: str = Field(max_length=16)  # "integration" or "platform"
    provider: str = Field(max_length=32)
    sender: str | None = Field(default=None, max_length=320)
    to: str = Field(max_length=320)
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(sa_column=Column(Text, nullable=False))
    template_key: str | None = Field(default=None, max_length=100)
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)
    # The status before the last transition, set by the same UPDATE (campaign counters move by it).
    previous_status: str | None = Field(default=None, max_length=16)
    campaign_id: int | None = Field(default=None, foreign_key="campaigns.id", ondelete="SET NULL")
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", ondelete="SET NULL")
    provider_message_id: str | None = Field(default=None, max_length=128)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=1000)
    attempts: int = 0
    # While `sending`, the worker holding the send; another may take it over once this passes.
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class MessageEvent(SQLModel, table=True):
    """A status transition; its id is the cursor of the delivery event stream."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_tenant_id_id", "tenant_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    message_id: int = Field(foreign_key="messages.id", index=True, ondelete="CASCADE")
    status: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class IdempotencyKey(SQLModel, table=True):
    """The first response to a request carrying `Idempotency-Key`, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_idempotency_tenant_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int | None = None
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))


class OptOut(SQLModel, table=True):
    """An address that asked not to be contacted on a channel (STOP, unsubscribe); checked at send."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "address", name="uq_opt_out_address"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    source: str = Field(default="api", max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
