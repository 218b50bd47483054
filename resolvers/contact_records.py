"""Contact rows as the API shows them, and the write helpers every contact write shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database
from gateway.tables import Contact, ContactTag
from gateway.tables.columns import table_of
from resolvers.errors import Conflict, ValidationFailed

CONTACTS = table_of(Contact)
CONTACT_TAGS = table_of(ContactTag)
_INSERT_TAGS = insert(CONTACT_TAGS)  # built once: a kept statement keeps its cache key
COLUMNS = (
    CONTACTS.c.id,
    CONTACTS.c.name,
    CONTACTS.c.email,
    CONTACTS.c.phone,
    CONTACTS.c.tags,
    CONTACTS.c["metadata"],
    CONTACTS.c.created_at,
    CONTACTS.c.updated_at,
)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    id: int
    name: str
    email: str | None
    phone: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ContactRecord:
        """A row selected with COLUMNS, whose order is this class's field order."""
        return cls(*row)


async def index_tags(
    connection: AsyncConnection, tenant_id: int, contacts: list[tuple[int, list[str]]]
) -> None:
    """The `contact_tags` rows of (contact id, tags) pairs of one tenant, in one INSERT."""
    await connection.run_sync(insert_tags, tenant_id, contacts)


def insert_tags(connection: Connection, tenant_id: int, contacts: list[tuple[int, list[str]]]) -> None:
    """`index_tags` on a synchronous connection (`Database.run_write`)."""
    rows = [
        {"tenant_id": tenant_id, "contact_id": contact_id, "tag": tag}
        for contact_id, tags in contacts
        for tag in tags
    ]
    if rows:
        connection.execute(_INSERT_TAGS, rows)


def require_address(email: str | None, phone: str | None) -> None:
    if email is None and phone is None:
        message = "a contact needs a phone or an email"
        raise ValidationFailed(message, fields={"phone": [message], "email": [message]})


async def duplicate_error(
    db: Database, tenant_id: int, *, email: str | None, phone: str | None, own_id: int | None
) -> Conflict:
    """Names the field (and the other contact) that made a write collide."""
    fields: dict[str, list[str]] = {}
    async with db.reading() as connection:
        for name, column, value in (("email", CONTACTS.c.email, email), ("phone", CONTACTS.c.phone, phone)):
            if value is None:
                continue
            query = select(CONTACTS.c.id).where(CONTACTS.c.tenant_id == tenant_id, column == value)
            if own_id is not None:
                query = query.where(CONTACTS.c.id != own_id)
            other = (await connection.execute(query)).scalar()
            if other is not None:
                fields[name] = [f"already used by contact {other}"]
    return Conflict("a contact with this email or phone exists", fields=fields)
