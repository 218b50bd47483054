"""Contacts: list, get, create, update, delete, always inside the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.tables import Contact, ContactTag
from resolvers.contact_fields import ContactFields, normalize_email, normalize_phone, normalize_tags
from resolvers.context import Context
from resolvers.errors import Conflict, NotFound, ValidationFailed
from resolvers.pagination import Page, page_request

MAX_SEARCH_LENGTH = 100


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


async def list_contacts(
    ctx: Context, *, page: int | None, per_page: int | None, search: str | None, tag: str | None
) -> Page[ContactRecord]:
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    filters = _list_filters(tenant_id, search=search, tag=tag)
    async with ctx.db.sessions() as session:
        total = (await session.exec(select(func.count()).select_from(Contact).where(*filters))).one()
        query = (
            select(Contact)
            .where(*filters)
            .order_by(col(Contact.id).desc())
            .offset(request.offset)
            .limit(request.per_page)
        )
        rows = list((await session.exec(query)).all())
        items = await _with_tags(session, rows)
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)


def _list_filters(tenant_id: int, *, search: str | None, tag: str | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [col(Contact.tenant_id) == tenant_id]
    if search:
        if len(search) > MAX_SEARCH_LENGTH:
            raise ValidationFailed(
                "search is too long", fields={"search": [f"at most {MAX_SEARCH_LENGTH} chars"]}
            )
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(
            or_(
                col(Contact.name).ilike(pattern, escape="\\"),
                col(Contact.email).ilike(pattern, escape="\\"),
                col(Contact.phone).like(pattern, escape="\\"),
            )
        )
    if tag:
        tagged = select(ContactTag.contact_id).where(ContactTag.tenant_id == tenant_id, ContactTag.tag == tag)
        filters.append(col(Contact.id).in_(tagged))
    return filters


async def get_contact(ctx: Context, *, contact_id: int) -> ContactRecord:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.sessions() as session:
        contact = await _load(session, tenant_id, contact_id)
        return (await _with_tags(session, [contact]))[0]


async def create_contact(ctx: Context, *, fields: ContactFields) -> ContactRecord:
    tenant_id = ctx.require("write").tenant_id
    email, phone = normalize_email(fields.email), normalize_phone(fields.phone)
    _require_address(email, phone)
    tags = normalize_tags(fields.tags or [])
    now = datetime.now(UTC)
    contact = Contact(
        tenant_id=tenant_id,
        created_at=now,
        updated_at=now,
        name=fields.combined_name() or "",
        email=email,
        phone=phone,
        attributes=fields.metadata or {},
    )
    async with ctx.db.sessions() as session:
        session.add(contact)
        try:
            await session.flush()
            assert contact.id is not None
            session.add_all(ContactTag(tenant_id=tenant_id, contact_id=contact.id, tag=tag) for tag in tags)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise await _duplicate_error(session, tenant_id, email=email, phone=phone, own_id=None) from None
    return _record(contact, tags)


async def update_contact(ctx: Context, *, contact_id: int, fields: ContactFields) -> ContactRecord:
    tenant_id = ctx.require("write").tenant_id
    sent = fields.model_fields_set
    async with ctx.db.sessions() as session:
        contact = await _load(session, tenant_id, contact_id)
        name = fields.combined_name()
        if name is not None:
            contact.name = name
        if "email" in sent:
            contact.email = normalize_email(fields.email)
        if "phone" in sent:
            contact.phone = normalize_phone(fields.phone)
        if "metadata" in sent:
            contact.attributes = fields.metadata or {}
        email, phone = contact.email, contact.phone  # kept: a rollback expires the row's attributes
        _require_address(email, phone)
        contact.updated_at = datetime.now(UTC)
        try:
            if "tags" in sent:
                await session.exec(delete(ContactTag).where(col(ContactTag.contact_id) == contact_id))
                tags = normalize_tags(fields.tags or [])
                session.add_all(
                    ContactTag(tenant_id=tenant_id, contact_id=contact_id, tag=tag) for tag in tags
                )
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise await _duplicate_error(
                session, tenant_id, email=email, phone=phone, own_id=contact_id
            ) from None
        return (await _with_tags(session, [contact]))[0]


async def delete_contact(ctx: Context, *, contact_id: int) -> int:
    tenant_id = ctx.require("write").tenant_id
    async with ctx.db.sessions() as session:
        contact = await _load(session, tenant_id, contact_id)
        await session.exec(delete(ContactTag).where(col(ContactTag.contact_id) == contact_id))
        await session.delete(contact)
        await session.commit()
    return contact_id


async def load_tags(session: AsyncSession, contact_ids: list[int]) -> dict[int, list[str]]:
    """Every tag of the given contacts in one query, in the order they were added."""
    tags: dict[int, list[str]] = {contact_id: [] for contact_id in contact_ids}
    if contact_ids:
        query = (
            select(ContactTag.contact_id, ContactTag.tag)
            .where(col(ContactTag.contact_id).in_(contact_ids))
            .order_by(col(ContactTag.id))
        )
        for contact_id, tag in await session.exec(query):
            tags[contact_id].append(tag)
    return tags


async def _load(session: AsyncSession, tenant_id: int, contact_id: int) -> Contact:
    query = select(Contact).where(Contact.id == contact_id, Contact.tenant_id == tenant_id)
    contact = (await session.exec(query)).first()
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return contact


async def _with_tags(session: AsyncSession, contacts: list[Contact]) -> list[ContactRecord]:
    tags = await load_tags(session, [contact.id for contact in contacts if contact.id is not None])
    return [_record(contact, tags.get(contact.id or 0, [])) for contact in contacts]


def _record(contact: Contact, tags: list[str]) -> ContactRecord:
    assert contact.id is not None
    return ContactRecord(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        tags=tags,
        metadata=contact.attributes,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


def _require_address(email: str | None, phone: str | None) -> None:
    if email is None and phone is None:
        message = "a contact needs a phone or an email"
        raise ValidationFailed(message, fields={"phone": [message], "email": [message]})


async def _duplicate_error(
    session: AsyncSession, tenant_id: int, *, email: str | None, phone: str | None, own_id: int | None
) -> Conflict:
    """Names the field (and the other contact) that made a write collide."""
    fields: dict[str, list[str]] = {}
    for name, column, value in (("email", Contact.email, email), ("phone", Contact.phone, phone)):
        if value is None:
            continue
        query = select(Contact.id).where(Contact.tenant_id == tenant_id, col(column) == value)
        if own_id is not None:
            query = query.where(col(Contact.id) != own_id)
        other = (await session.exec(query)).first()
        if other is not None:
            fields[name] = [f"already used by contact {other}"]
    return Conflict("a contact with this email or phone exists", fields=fields)
