"""Cancelling a campaign's queued messages, in chunks, each with its event and counter moves."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from gateway.bus import EventPublisher, StatusEvent
from gateway.db import Database
from resolvers import campaign_counters
from resolvers.message_status import MessageStatus
from resolvers.message_store import EVENTS, MESSAGES

CHUNK = 2000
QUEUED = MessageStatus.QUEUED.value
CANCELLED = MessageStatus.CANCELLED.value


async def cancel_queued(db: Database, campaign_id: int, bus: EventPublisher | None) -> int:
    """Moves every still-queued message of the campaign to `cancelled`; returns how many."""
    total = 0
    while True:
        now = datetime.now(UTC)
        chunk = (
            select(MESSAGES.c.id)
            .where(MESSAGES.c.campaign_id == campaign_id, MESSAGES.c.status == QUEUED)
            .limit(CHUNK)
        )
        statement = (
            update(MESSAGES)
            .where(MESSAGES.c.id.in_(chunk.scalar_subquery()), MESSAGES.c.status == QUEUED)
            .values(status=CANCELLED, previous_status=MESSAGES.c.status, updated_at=now)
            .returning(MESSAGES.c.id, MESSAGES.c.tenant_id, MESSAGES.c.channel)
        )
        async with db.writing() as connection:
            rows = list(await connection.execute(statement))
            if not rows:
                return total
            await campaign_counters.moved_many(
                connection, campaign_id, [(row.id, QUEUED, CANCELLED) for row in rows]
            )
            events = [
                {"tenant_id": row.tenant_id, "message_id": row.id, "status": CANCELLED,
                 "detail": {"reason": "campaign_cancelled"}, "occurred_at": now}
                for row in rows
            ]  # fmt: skip
            event_ids = list(
                (
                    await connection.execute(
                        insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True), events
                    )
                ).scalars()
            )
        total += len(rows)
        if bus is not None:
            await bus.publish(
                [
                    StatusEvent(
                        event_id,
                        row.tenant_id,
                        row.id,
                        row.channel,
                        CANCELLED,
                        now,
                        {"reason": "campaign_cancelled"},
                        campaign_id,
                    )
                    for event_id, row in zip(event_ids, rows, strict=True)
                ]
            )
