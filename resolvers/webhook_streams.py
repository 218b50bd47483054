"""The two event streams webhooks are made from, read in cursor order: `message_events` (status
changes, written by the send path, which knows nothing of webhooks) and `webhook_events` (the outbox).

PostgreSQL hands out ids before commit, so a later id can be visible before an earlier one: the
reader stops at a missing id until it has been missing for `webhook_gap_seconds` (a rolled-back
transaction's id never appears), so an event committed late is never skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers.message_store import EVENTS, MESSAGES
from resolvers.webhook_catalog import MESSAGE_STATUS_EVENTS
from resolvers.webhook_records import OUTBOX

PAGE = 500
MESSAGE_STREAM = "message_events"
OUTBOX_STREAM = "webhook_events"
STREAMS = (MESSAGE_STREAM, OUTBOX_STREAM)


@dataclass(frozen=True, slots=True)
class Occurrence:
    cursor: int
    tenant_id: int
    type: str | None  # None: no webhook event (a message becoming `sending`)
    channel: str | None
    occurred_at: datetime
    data: dict[str, Any]


async def read_after(connection: AsyncConnection, stream: str, position: int) -> list[Occurrence]:
    if stream == MESSAGE_STREAM:
        return await _message_events(connection, position)
    query = (
        select(OUTBOX.c.id, OUTBOX.c.tenant_id, OUTBOX.c.type, OUTBOX.c.channel, OUTBOX.c.occurred_at,
               OUTBOX.c.data)
        .where(OUTBOX.c.id > position)
        .order_by(OUTBOX.c.id)
        .limit(PAGE)
    )  # fmt: skip
    return [Occurrence(*row) for row in await connection.execute(query)]


async def _message_events(connection: AsyncConnection, position: int) -> list[Occurrence]:
    query = (
        select(EVENTS.c.id, EVENTS.c.tenant_id, EVENTS.c.status, EVENTS.c.occurred_at, EVENTS.c.detail,
               EVENTS.c.message_id, MESSAGES.c.channel, MESSAGES.c.to, MESSAGES.c.batch_id,
               MESSAGES.c.campaign_id)
        .join(MESSAGES, MESSAGES.c.id == EVENTS.c.message_id)
        .where(EVENTS.c.id > position)
        .order_by(EVENTS.c.id)
        .limit(PAGE)
    )  # fmt: skip
    occurrences = []
    for row in await connection.execute(query):
        data = {
            "message_id": row.message_id, "status": row.status, "channel": row.channel, "to": row.to,
            "batch_id": row.batch_id, "campaign_id": row.campaign_id, "occurred_at": row.occurred_at,
            **(row.detail or {}),
        }  # fmt: skip
        kind = MESSAGE_STATUS_EVENTS.get(row.status)
        occurrences.append(Occurrence(row.id, row.tenant_id, kind, row.channel, row.occurred_at, data))
    return occurrences


def stream_table(stream: str) -> Table:
    return EVENTS if stream == MESSAGE_STREAM else OUTBOX


async def settled_position(
    connection: AsyncConnection, stream: str, position: int, before: datetime
) -> int | None:
    """The last id after `position` of an event that occurred before `before` (None: no such event):
    where a stream nobody listens to may jump, as `ready_prefix` would after its gap."""
    table = stream_table(stream)
    query = select(func.max(table.c.id)).where(table.c.id > position, table.c.occurred_at < before)
    found = (await connection.execute(query)).scalar()
    return None if found is None else int(found)


def ready_prefix(
    occurrences: Sequence[Occurrence], position: int, now: datetime, gap: timedelta
) -> list[Occurrence]:
    """The occurrences up to the first missing id that may still commit."""
    ready: list[Occurrence] = []
    expected = position + 1
    for occurrence in occurrences:
        if occurrence.cursor != expected and occurrence.occurred_at > now - gap:
            break
        ready.append(occurrence)
        expected = occurrence.cursor + 1
    return ready
