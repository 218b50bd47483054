"""Tenants: lookup by id or slug, creation."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.tables import Tenant
from resolvers.errors import Conflict, NotFound, field_error

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


async def find_tenant(session: AsyncSession, ref: str | int) -> Tenant:
    """A tenant by numeric id or by slug."""
    text = str(ref).strip()
    query = select(Tenant).where(Tenant.id == int(text) if text.isdigit() else Tenant.slug == text)
    tenant = (await session.exec(query)).first()
    if tenant is None:
        raise NotFound(f"no tenant '{text}'")
    return tenant


async def create_tenant(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    if not SLUG_PATTERN.match(slug):
        raise field_error("slug", "2-63 lowercase letters, digits or dashes, starting with a letter or digit")
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    try:
        await session.flush()
    except IntegrityError as error:
        raise Conflict(f"a tenant with slug '{slug}' exists") from error
    return tenant
