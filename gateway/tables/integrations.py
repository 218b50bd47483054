"""Integrations (a named provider connection per channel) and message templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now


class Integration(SQLModel, table=True):
    """`channels` maps a channel name to its provider config, e.g. {"sms": {"provider": "sandbox"}}."""

    __tablename__ = "integrations"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    channels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    is_default: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class Template(SQLModel, table=True):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_template_tenant_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=100)
    channel: str = Field(max_length=16, index=True)
    name: str = Field(default="", max_length=200)
    subject: str | None = Field(default=None, max_length=500)
    body: str
    variables: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
