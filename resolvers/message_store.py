"""Writes accepted messages and their first event, and hands them to the workers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import EventPublisher, StatusEvent
from gateway.queue import TaskQueue
from gateway.tables import Message, MessageEvent
from gateway.tables.columns import table_of
from resolvers.composing import Draft, Plan
from resolvers.context import Context
from resolvers.message_status import MessageStatus
from resolvers.queued_inserts_pg import insert_queued

MESSAGES = table_of(Message)
EVENTS = table_of(MessageEvent)
SEND_ACTOR = "send_message"  # one message (retries)
SEND_GROUP_ACTOR = "send_messages"  # a group of messages: how new ones go to the workers
SEND_GROUP_SIZE = 50


def send_groups(message_ids: list[int]) -> list[tuple[list[int]]]:
    """The calls of the group send actor for these messages."""
    return [
        (message_ids[start : start + SEND_GROUP_SIZE],)
        for start in range(0, len(message_ids), SEND_GROUP_SIZE)
    ]


logger = logging.getLogger("weconn.messages")


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    to: str
    created_at: datetime
    event_id: int = 0


async def insert_messages(
    connection: AsyncConnection,
    plan: Plan,
    drafts: list[Draft],
    *,
    now: datetime,
    batch_id: str | None = None,
) -> list[Stored]:
    """One row per draft, `queued`, with its `queued` event; ids in the order of `drafts`."""
    return await insert_planned(connection, [(plan, item) for item in drafts], now=now, batch_id=batch_id)


async def insert_planned(
    connection: AsyncConnection,
    planned: list[tuple[Plan, Draft]],
    *,
    now: datetime,
    batch_id: str | None = None,
) -> list[Stored]:
    """`insert_messages` for drafts of any plans (the single sends of several requests)."""
    if connection.dialect.name == "postgresql":
        inserted = await insert_queued(connection, planned, now=now, batch_id=batch_id)
        return [Stored(id=message_id, to=item.to, created_at=now, event_id=event_id)
                for (message_id, event_id), (_, item) in zip(inserted, planned, strict=True)]  # fmt: skip
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": plan.tenant_id,
            "integration_id": plan.route.integration_id,
            "batch_id": batch_id,
            "channel": plan.channel,
            "route": plan.route.kind,
            "provider": plan.route.provider,
            "sender": plan.route.sender,
            "to": item.to,
            "subject": item.subject,
            "body": item.body,
            "template_key": plan.template.key if plan.template else None,
            "variables": item.variables,
            "status": MessageStatus.QUEUED.value,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for plan, item in planned
    ]
    ids = await _inserted_ids(connection, rows)
    events = [
        {"tenant_id": row["tenant_id"], "message_id": message_id, "status": "queued", "detail": {},
         "occurred_at": now}
        for row, message_id in zip(rows, ids, strict=True)
    ]  # fmt: skip
    returned = await connection.execute(insert(EVENTS).returning(EVENTS.c.message_id, EVENTS.c.id), events)
    event_ids = {int(row[0]): int(row[1]) for row in returned}  # one `queued` event per message
    return [
        Stored(id=message_id, to=item.to, created_at=now, event_id=event_ids[message_id])
        for message_id, (_, item) in zip(ids, planned, strict=True)
    ]


async def _inserted_ids(connection: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """The new rows' ids, in the order of `rows` (SQLite; PostgreSQL takes `insert_queued`).

    SQLite only keeps RETURNING in parameter order by inserting row by row (twenty times slower).
    It does not need to: a multi-row INSERT assigns rowids in VALUES order, each one past the
    largest, and the database's single writer rules out interleaving, so sorted ids are in order.
    """
    returned = await connection.execute(insert(MESSAGES).returning(MESSAGES.c.id), rows)
    return sorted(returned.scalars())


async def hand_over(ctx: Context, plan: Plan, stored: list[Stored]) -> None:
    """After the commit: tell live subscribers the messages are queued, then enqueue them."""
    await hand_over_planned(ctx.bus, ctx.task_queue(), [(plan, item) for item in stored])


async def hand_over_planned(
    bus: EventPublisher | None, queue: TaskQueue, stored: list[tuple[Plan, Stored]]
) -> None:
    """`hand_over` for messages of any plans.

    Published first, so that no subscriber sees a worker's `sending` before the `queued` it follows.
    The rows are committed, so the request has succeeded whatever the broker says: a failed
    enqueue is logged, and the sweeper sends those messages once they are `sweep_stale_seconds` old.
    """
    if bus is not None:
        queued = MessageStatus.QUEUED.value
        await bus.publish(
            [
                StatusEvent(item.event_id, plan.tenant_id, item.id, plan.channel, queued, item.created_at)
                for plan, item in stored
            ]
        )
    try:
        await queue.enqueue(SEND_GROUP_ACTOR, send_groups([item.id for _, item in stored]))
    except Exception:  # any broker failure: the sweeper recovers these rows
        logger.exception("enqueue failed for %d committed messages; the sweeper will send them", len(stored))
