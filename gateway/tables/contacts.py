"""Contacts and their tags (also one row a tag, so audiences filter by tag with an index)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.tables.columns import UtcDateTime, utc_now


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="uq_contact_tenant_email"),
        UniqueConstraint("tenant_id", "phone", name="uq_contact_tenant_phone"),
        Index("ix_contacts_tenant_id_id", "tenant_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    # Tags are read from here; contact_tags holds the same tags as rows, for indexed filtering.
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # "metadata" is reserved on declarative classes, so the attribute has another name.
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_column=Column(UtcDateTime, nullable=False))


class ContactTag(SQLModel, table=True):
    __tablename__ = "contact_tags"
    __table_args__ = (
        UniqueConstraint("contact_id", "tag", name="uq_contact_tag"),
        Index("ix_contact_tags_tenant_tag", "tenant_id", "tag"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE")
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    tag: str = Field(max_length=64)
