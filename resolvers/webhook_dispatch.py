"""The dispatcher's step: new events of a stream become delivery rows, once, whichever process runs it.

Each stream has a cursor row. A dispatcher holds it with a lease and moves it with a conditional
UPDATE (position unchanged, lease its own or lapsed) in the transaction that inserts the delivery
rows, so two dispatchers never fan out the same range twice and a crash before the commit leaves
the range to the next pass. Overdue deliveries (a lost enqueue, a killed worker) are handed out
again by `overdue_deliveries`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import WebhookDispatchCursor
from gateway.tables.columns import table_of
from resolvers.webhook_events import ENABLED, delivery_row, enabled_endpoint_exists, event_body
from resolvers.webhook_records import DELIVERIES, ENDPOINTS
from resolvers.webhook_streams import Occurrence, read_after, ready_prefix, settled_position, stream_table

CURSORS = table_of(WebhookDispatchCursor)
RECOVERY_BATCH = 1000


async def dispatch_stream(db: Database, settings: Settings, owner: str, stream: str) -> tuple[int, list[int]]:
    """One page of the stream: how many events it read, and the deliveries it made (to enqueue)."""
    now = datetime.now(UTC)
    async with db.reading() as connection:
        query = select(CURSORS.c.position, CURSORS.c.lease_owner, CURSORS.c.lease_expires_at)
        cursor = (await connection.execute(query.where(CURSORS.c.stream == stream))).first()
        if cursor is None:
            await _create_cursor(db, stream)
            return 0, []
        if cursor.lease_owner not in (None, owner) and cursor.lease_expires_at > now:
            return 0, []  # another dispatcher holds the stream
        gap = timedelta(seconds=settings.webhook_gap_seconds)
        # An endpoint made later only receives events that occur after it was made (`_deliveries`).
        if await enabled_endpoint_exists(connection):
            ready = ready_prefix(
                await read_after(connection, stream, cursor.position), cursor.position, now, gap
            )
            position = ready[-1].cursor if ready else None
        else:  # no enabled endpoint anywhere: step over the settled events without reading them
            ready, position = [], await settled_position(connection, stream, cursor.position, now - gap)
    if position is None:
        return 0, []
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    move = (
        update(CURSORS)
        .where(
            CURSORS.c.stream == stream,
            CURSORS.c.position == cursor.position,
            or_(
                CURSORS.c.lease_owner.is_(None),
                CURSORS.c.lease_owner == owner,
                CURSORS.c.lease_expires_at < now,
            ),
        )
        .values(position=position, lease_owner=owner, lease_expires_at=lease, updated_at=now)
    )
    async with db.writing() as connection:
        if not (await connection.execute(move)).rowcount:
            return 0, []  # another dispatcher moved it first
        rows = await _deliveries(connection, ready, now, settings.webhook_retry_delays[0])
        if not rows:
            return len(ready), []
        created = await connection.execute(insert(DELIVERIES).returning(DELIVERIES.c.id), rows)
        return len(ready), list(created.scalars())


async def _deliveries(
    connection: AsyncConnection, ready: list[Occurrence], now: datetime, first_delay: float
) -> list[dict[str, Any]]:
    tenants = {occurrence.tenant_id for occurrence in ready if occurrence.type is not None}
    if not tenants:
        return []
    query = select(
        ENDPOINTS.c.id, ENDPOINTS.c.tenant_id, ENDPOINTS.c.events, ENDPOINTS.c.channel, ENDPOINTS.c.created_at
    ).where(ENDPOINTS.c.tenant_id.in_(tenants), ENDPOINTS.c.status == ENABLED)
    endpoints: dict[int, list[Any]] = {}
    for endpoint in await connection.execute(query):
        endpoints.setdefault(endpoint.tenant_id, []).append(endpoint)
    rows = []
    for occurrence in ready:
        if occurrence.type is None:
            continue
        for endpoint in endpoints.get(occurrence.tenant_id, ()):
            if (
                occurrence.type in endpoint.events
                and endpoint.channel in (None, occurrence.channel)
                and occurrence.occurred_at >= endpoint.created_at
            ):
                body = event_body(occurrence.type, occurrence.occurred_at, occurrence.data)
                rows.append(delivery_row(occurrence.tenant_id, endpoint.id, body, now, first_delay))
    return rows


async def _create_cursor(db: Database, stream: str) -> None:
    """A stream without a cursor starts after its last event (webhooks never replay older history)."""
    table = stream_table(stream)
    try:
        async with db.writing() as connection:
            last = (await connection.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()
            values = {"stream": stream, "position": int(last), "updated_at": datetime.now(UTC)}
            await connection.execute(insert(CURSORS).values(values))
    except IntegrityError:
        pass  # another process created it meanwhile


async def release_streams(db: Database, owner: str) -> None:
    """On a clean stop: the streams this dispatcher held are free at once (not when the lease ends)."""
    statement = (
        update(CURSORS).where(CURSORS.c.lease_owner == owner).values(lease_owner=None, lease_expires_at=None)
    )
    async with db.writing() as connection:
        await connection.execute(statement)


async def overdue_deliveries(db: Database, stale: timedelta) -> list[int]:
    """Pending deliveries overdue by `stale` with no live lease: taken (touched) to be enqueued again."""
    now = datetime.now(UTC)
    condition = and_(
        DELIVERIES.c.status == "pending",
        DELIVERIES.c.next_attempt_at < now - stale,
        or_(DELIVERIES.c.lease_expires_at.is_(None), DELIVERIES.c.lease_expires_at < now),
    )
    async with db.reading() as connection:
        query = select(DELIVERIES.c.id).where(condition).limit(RECOVERY_BATCH)
        ids = list((await connection.execute(query)).scalars())
    if not ids:
        return []
    statement = (
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(ids), condition)
        .values(next_attempt_at=now, updated_at=now)
        .returning(DELIVERIES.c.id)
    )
    async with db.writing() as connection:
        return list((await connection.execute(statement)).scalars())
