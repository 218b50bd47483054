"""Who a campaign reaches: every contact, contacts with any or all of some tags, or given ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers.contact_records import CONTACT_TAGS, CONTACTS

AUDIENCE_COLUMNS = (
    CONTACTS.c.id,
    CONTACTS.c.name,
    CONTACTS.c.email,
    CONTACTS.c.phone,
    CONTACTS.c["metadata"],
)


def audience_of(tags: list[str] | None, tag_match: str, contact_ids: list[int] | None) -> dict[str, Any]:
    """The stored form of an audience."""
    if contact_ids is not None:
        return {"contact_ids": sorted(set(contact_ids))}
    if tags:
        return {"tags": sorted(set(tags)), "tag_match": tag_match}
    return {}


def audience_filter(tenant_id: int, audience: dict[str, Any]) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [CONTACTS.c.tenant_id == tenant_id]
    if "contact_ids" in audience:
        filters.append(CONTACTS.c.id.in_(audience["contact_ids"]))
    elif audience.get("tags"):
        tags: list[str] = audience["tags"]
        tagged = select(CONTACT_TAGS.c.contact_id).where(
            CONTACT_TAGS.c.tenant_id == tenant_id, CONTACT_TAGS.c.tag.in_(tags)
        )
        if audience.get("tag_match") == "all" and len(tags) > 1:
            tagged = tagged.group_by(CONTACT_TAGS.c.contact_id).having(
                func.count(func.distinct(CONTACT_TAGS.c.tag)) == len(tags)
            )
        filters.append(CONTACTS.c.id.in_(tagged))
    return filters


async def audience_size(connection: AsyncConnection, tenant_id: int, audience: dict[str, Any]) -> int:
    query = select(func.count()).select_from(CONTACTS).where(*audience_filter(tenant_id, audience))
    return int((await connection.execute(query)).scalar_one())


async def next_contacts(
    connection: AsyncConnection, tenant_id: int, audience: dict[str, Any], *, after: int, limit: int
) -> list[Any]:
    """The audience's next contacts by id, after `after` (the fan-out cursor)."""
    query = (
        select(*AUDIENCE_COLUMNS)
        .where(*audience_filter(tenant_id, audience), CONTACTS.c.id > after)
        .order_by(CONTACTS.c.id)
        .limit(limit)
    )
    return list(await connection.execute(query))
