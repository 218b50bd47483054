"""The stored event stream: `message_events` in cursor order, as the bus carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select

from gateway.bus import StatusEvent
from gateway.db import Database
from resolvers.errors import ValidationFailed
from resolvers.message_store import EVENTS, MESSAGES

PAGE = 500
EVENT_COLUMNS = (
    EVENTS.c.id, EVENTS.c.tenant_id, EVENTS.c.message_id, MESSAGES.c.channel, EVENTS.c.status,
    EVENTS.c.occurred_at, EVENTS.c.detail, MESSAGES.c.campaign_id,
)  # fmt: skip


def parse_cursor(raw: str | None) -> int | None:
    """A cursor is the decimal id of an event; anything else is a 422."""
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(
            "after: not a cursor", fields={"after": ["a cursor from an event's `cursor` field"]}
        )
    return int(raw)


def tenant_events(
    tenant_id: int, *, channel: str | None = None, campaign_id: int | None = None
) -> Select[Any]:
    query = (
        select(*EVENT_COLUMNS)
        .join(MESSAGES, MESSAGES.c.id == EVENTS.c.message_id)
        .where(EVENTS.c.tenant_id == tenant_id)
    )
    if channel is not None:
        query = query.where(MESSAGES.c.channel == channel)
    if campaign_id is not None:
        query = query.where(MESSAGES.c.campaign_id == campaign_id)
    return query


async def events_after(db: Database, query: Select[Any], after: int) -> AsyncIterator[StatusEvent]:
    """Every event of `query` with a cursor above `after`, oldest first, a page at a time."""
    while True:
        page = query.where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(PAGE)
        async with db.reading() as connection:
            rows = list(await connection.execute(page))
        for row in rows:
            yield StatusEvent(*row)
        if len(rows) < PAGE:
            return
        after = rows[-1].id


async def latest_cursor(db: Database) -> int:
    async with db.reading() as connection:
        return int((await connection.execute(select(func.coalesce(func.max(EVENTS.c.id), 0)))).scalar_one())
