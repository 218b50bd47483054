"""Contacts: list, get, create, update, delete, always inside the caller's tenant.

Statements are SQLAlchemy Core on the SQLModel tables: a contact is read in one query and
written in one transaction, with no ORM unit of work on the hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables.columns import MAX_ID
from resolvers.contact_fields import ContactFields, normalize_email, normalize_phone, normalize_tags
from resolvers.contact_inserts import insert_contact
from resolvers.contact_records import (
    COLUMNS,
    CONTACT_TAGS,
    CONTACTS,
    ContactRecord,
    duplicate_error,
    index_tags,
    require_address,
)
from resolvers.context import Context
from resolvers.errors import NotFound, ValidationFailed
from resolvers.pagination import Page, page_request
from resolvers.webhook_events import emit_event

MAX_SEARCH_LENGTH = 100


async def list_contacts(
    ctx: Context, *, page: int | None, per_page: int | None, search: str | None, tag: str | None
) -> Page[ContactRecord]:
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    filters = _list_filters(tenant_id, search=search, tag=tag)
    page_query = (
        select(*COLUMNS)
        .where(*filters)
        .order_by(CONTACTS.c.id.desc())
        .offset(request.offset)
        .limit(request.per_page)
    )
    async with ctx.db.reading() as connection:
        total = (
            await connection.execute(select(func.count()).select_from(CONTACTS).where(*filters))
        ).scalar_one()
        items = [ContactRecord.from_row(row) for row in await connection.execute(page_query)]
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)


def _list_filters(tenant_id: int, *, search: str | None, tag: str | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [CONTACTS.c.tenant_id == tenant_id]
    if search:
        if len(search) > MAX_SEARCH_LENGTH:
            message = f"at most {MAX_SEARCH_LENGTH} characters"
            raise ValidationFailed(f"search: {message}", fields={"search": [message]})
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(
            or_(
                CONTACTS.c.name.ilike(pattern, escape="\\"),
                CONTACTS.c.email.ilike(pattern, escape="\\"),
                CONTACTS.c.phone.like(pattern, escape="\\"),
            )
        )
    if tag:
        tagged = select(CONTACT_TAGS.c.contact_id).where(
            CONTACT_TAGS.c.tenant_id == tenant_id, CONTACT_TAGS.c.tag == tag
        )
        filters.append(CONTACTS.c.id.in_(tagged))
    return filters


async def get_contact(ctx: Context, *, contact_id: int) -> ContactRecord:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.reading() as connection:
        return await _load(connection, tenant_id, contact_id)


async def create_contact(ctx: Context, *, fields: ContactFields) -> ContactRecord:
    tenant_id = ctx.require("write").tenant_id
    email, phone = normalize_email(fields.email), normalize_phone(fields.phone)
    require_address(email, phone)
    now = datetime.now(UTC)
    tags = normalize_tags(fields.tags or [])
    values = {
        "tenant_id": tenant_id,
        "name": fields.combined_name() or "",
        "email": email,
        "phone": phone,
        "tags": tags,
        "metadata": fields.metadata or {},
        "created_at": now,
        "updated_at": now,
    }
    return await insert_contact(ctx.db, values)


async def update_contact(ctx: Context, *, contact_id: int, fields: ContactFields) -> ContactRecord:
    tenant_id = ctx.require("write").tenant_id
    sent = fields.model_fields_set
    changes: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    name = fields.combined_name()
    if name is not None:
        changes["name"] = name
    if "email" in sent:
        changes["email"] = normalize_email(fields.email)
    if "phone" in sent:
        changes["phone"] = normalize_phone(fields.phone)
    if "metadata" in sent:
        changes["metadata"] = fields.metadata or {}
    if "tags" in sent:
        changes["tags"] = normalize_tags(fields.tags or [])
    try:
        async with ctx.db.writing() as connection:
            current = await _load(connection, tenant_id, contact_id)
            email, phone = changes.get("email", current.email), changes.get("phone", current.phone)
            require_address(email, phone)
            statement = (
                update(CONTACTS).where(CONTACTS.c.id == contact_id).values(changes).returning(*COLUMNS)
            )
            row = (await connection.execute(statement)).one()
            if "tags" in changes:
                await connection.execute(delete(CONTACT_TAGS).where(CONTACT_TAGS.c.contact_id == contact_id))
                await index_tags(connection, tenant_id, [(contact_id, changes["tags"])])
            await emit_event(connection, tenant_id, "contact.updated", ContactRecord.from_row(row))
    except IntegrityError:
        # Only the UPDATE can collide, and it runs after both addresses were read.
        email, phone = changes.get("email"), changes.get("phone")
        raise await duplicate_error(ctx.db, tenant_id, email=email, phone=phone, own_id=contact_id) from None
    return ContactRecord.from_row(row)


async def delete_contact(ctx: Context, *, contact_id: int) -> int:
    tenant_id = ctx.require("write").tenant_id
    if not 0 < contact_id <= MAX_ID:
        raise NotFound(f"contact {contact_id} not found")
    async with ctx.db.writing() as connection:
        await connection.execute(
            delete(CONTACT_TAGS).where(
                CONTACT_TAGS.c.contact_id == contact_id, CONTACT_TAGS.c.tenant_id == tenant_id
            )
        )
        statement = (
            delete(CONTACTS)
            .where(CONTACTS.c.id == contact_id, CONTACTS.c.tenant_id == tenant_id)
            .returning(CONTACTS.c.id)
        )
        if (await connection.execute(statement)).first() is None:
            raise NotFound(f"contact {contact_id} not found")
        await emit_event(connection, tenant_id, "contact.deleted", {"id": contact_id})
    return contact_id


async def _load(connection: AsyncConnection, tenant_id: int, contact_id: int) -> ContactRecord:
    if not 0 < contact_id <= MAX_ID:
        raise NotFound(f"contact {contact_id} not found")
    query = select(*COLUMNS).where(CONTACTS.c.id == contact_id, CONTACTS.c.tenant_id == tenant_id)
    row = (await connection.execute(query)).first()
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return ContactRecord.from_row(row)
