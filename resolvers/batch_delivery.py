"""Claiming and recording sends many at a time: one statement for many messages, not one each.

A worker takes a group of message ids (one broker message), claims every claimable one in one
UPDATE, calls the providers concurrently, and records every acceptance in one more UPDATE
(`resolvers.status_writers` merges the groups that arrive together into one such transaction).
The guarantees are those of `Delivery.claim` and `Delivery.sent`, row by row: the same
conditions, leases, events and campaign counter moves.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Update, case, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import StatusEvent
from resolvers import campaign_counters
from resolvers.delivery import Delivery, Outgoing
from resolvers.message_status import MessageStatus, predecessors
from resolvers.message_store import EVENTS, MESSAGES

SENDING = MessageStatus.SENDING.value
SENT = MessageStatus.SENT.value


async def claim_all(delivery: Delivery, message_ids: list[int]) -> list[Outgoing]:
    """Takes every claimable message of `message_ids` (see `Delivery.claim`); the others are left."""
    claimed: list[Outgoing] = []
    async with delivery.db.writing() as connection:
        now = datetime.now(UTC)  # the change happens here, once the writer has its transaction
        statement = delivery.claim_statement(message_ids, now)
        rows = sorted(await connection.execute(statement), key=lambda row: row.id)
        if not rows:
            return []
        moves = [(row.campaign_id, row.id, row.previous_status) for row in rows]
        await move_counters(connection, moves, SENDING)
        firsts = [row for row in rows if row.attempts == 1]
        moved = [(row.tenant_id, row.id, row.channel, row.campaign_id) for row in firsts]
        events = await record_events(connection, moved, SENDING, now)
        for row in rows:
            *fields, campaign_id, _before = row
            config = await delivery.config_for(connection, row.integration_id, row.channel, row.route)
            headers = delivery.headers_for(row, campaign_id)
            claimed.append(Outgoing(*fields, config, headers))  # type: ignore[call-arg]
    await delivery.publish(events)
    return claimed


async def record_sent(delivery: Delivery, provider_ids: dict[int, str]) -> None:
    """Records each provider acceptance, message id -> provider's id (see `Delivery.sent`), in
    one UPDATE."""
    if not provider_ids:
        return
    async with delivery.db.writing() as connection:
        now = datetime.now(UTC)  # the change happens here, once the writer has its transaction
        rows = sorted(await connection.execute(_sent_statement(provider_ids, now)), key=lambda row: row.id)
        await move_counters(
            connection, [(row.campaign_id, row.id, row.previous_status) for row in rows], SENT
        )
        moved = [(row.tenant_id, row.id, row.channel, row.campaign_id) for row in rows]
        details = {row.id: {"provider_message_id": row.provider_message_id} for row in rows}
        events = await record_events(connection, moved, SENT, now, details)
    await delivery.publish(events)


def _sent_statement(provider_ids: dict[int, str], now: datetime) -> Update:
    return (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(provider_ids), MESSAGES.c.status.in_(predecessors(MessageStatus.SENT)))
        .values(
            status=SENT,
            previous_status=MESSAGES.c.status,
            provider_message_id=case(provider_ids, value=MESSAGES.c.id),
            lease_expires_at=None,
            error_code=None,
            error_message=None,
            updated_at=now,
        )
        .returning(MESSAGES.c.id, MESSAGES.c.tenant_id, MESSAGES.c.channel, MESSAGES.c.campaign_id,
                   MESSAGES.c.previous_status, MESSAGES.c.provider_message_id)
    )  # fmt: skip


async def move_counters(
    connection: AsyncConnection, moves: list[tuple[int | None, int, str | None]], after: str
) -> None:
    per_campaign: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for campaign_id, message_id, before in moves:
        if campaign_id is not None and before is not None and before != after:
            per_campaign[campaign_id].append((message_id, before, after))
    for campaign_id, campaign_moves in sorted(per_campaign.items()):  # a fixed lock order
        await campaign_counters.moved_many(connection, campaign_id, campaign_moves)
        if after not in campaign_counters.IN_FLIGHT:  # only a move out of flight can finish it
            await campaign_counters.complete_if_finished(connection, campaign_id=campaign_id)


async def record_events(
    connection: AsyncConnection,
    moved: list[tuple[int, int, str, int | None]],
    status: str,
    now: datetime,
    details: dict[int, dict[str, Any]] | None = None,
) -> list[StatusEvent]:
    """One event per (tenant, message, channel, campaign), in one multi-row INSERT."""
    if not moved:
        return []
    details = details or {}
    rows = [{"tenant_id": tenant_id, "message_id": message_id, "status": status,
             "detail": details.get(message_id, {}), "occurred_at": now}
            for tenant_id, message_id, _channel, _campaign in moved]  # fmt: skip
    returned = await connection.execute(insert(EVENTS).returning(EVENTS.c.message_id, EVENTS.c.id), rows)
    cursors = {int(row[0]): int(row[1]) for row in returned}
    return [
        StatusEvent(cursors[message_id], tenant_id, message_id, channel, status, now,
                    details.get(message_id, {}), campaign_id)
        for tenant_id, message_id, channel, campaign_id in moved
    ]  # fmt: skip
