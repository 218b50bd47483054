"""PostgreSQL: a send's messages and their `queued` events in one statement, columns as arrays.

The generic path binds 16 parameters per message and a second INSERT for the events: for a
batch of 500, 8,000 parameters processed one by one in Python and two round trips (24 ms on the
bench machine, with the gateway's event loop held for most of it). Here each column travels as
one array, `unnest` turns them back into rows, and the events are made from what the INSERT
returns, inside the same statement: 15 ms, most of it PostgreSQL's own work.

Ids follow the order of the rows: `INSERT ... SELECT ... ORDER BY position` draws the serial ids
in that order, which SQLAlchemy relies on as well (`sort_by_parameter_order` on PostgreSQL), and
the events are inserted in message order, so their cursors run in the same order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import dump_json
from resolvers.composing import Draft, Plan

INSERT_QUEUED = text("""
WITH new_messages AS (
    INSERT INTO messages (tenant_id, integration_id, batch_id, channel, route, provider, sender, "to",
                          subject, body, template_key, variables, status, attempts, created_at, updated_at)
    SELECT r.tenant_id, r.integration_id, :batch_id, r.channel, r.route, r.provider, r.sender, r.recipient,
           r.subject, r.body, r.template_key, CAST(r.variables AS JSON), 'queued', 0, :now, :now
    FROM unnest(CAST(:tenant_ids AS INTEGER[]), CAST(:integration_ids AS INTEGER[]),
                CAST(:channels AS TEXT[]), CAST(:routes AS TEXT[]), CAST(:providers AS TEXT[]),
                CAST(:senders AS TEXT[]), CAST(:recipients AS TEXT[]), CAST(:subjects AS TEXT[]),
                CAST(:bodies AS TEXT[]), CAST(:template_keys AS TEXT[]), CAST(:variables AS TEXT[]))
         WITH ORDINALITY AS r(tenant_id, integration_id, channel, route, provider, sender, recipient,
                              subject, body, template_key, variables, position)
    ORDER BY r.position
    RETURNING id, tenant_id
), new_events AS (
    INSERT INTO message_events (tenant_id, message_id, status, detail, occurred_at)
    SELECT tenant_id, id, 'queued', CAST('{}' AS JSON), :now FROM new_messages ORDER BY id
    RETURNING message_id, id
)
SELECT message_id, id FROM new_events ORDER BY message_id
""")


async def insert_queued(
    connection: AsyncConnection, planned: list[tuple[Plan, Draft]], *, now: datetime, batch_id: str | None
) -> list[tuple[int, int]]:
    """(message id, its `queued` event's id) for each draft, in the order of `planned`."""
    plans = [plan for plan, _ in planned]
    drafts = [item for _, item in planned]
    parameters = {
        "batch_id": batch_id,
        "now": now,
        "tenant_ids": [plan.tenant_id for plan in plans],
        "integration_ids": [plan.route.integration_id for plan in plans],
        "channels": [plan.channel for plan in plans],
        "routes": [plan.route.kind for plan in plans],
        "providers": [plan.route.provider for plan in plans],
        "senders": [plan.route.sender for plan in plans],
        "recipients": [item.to for item in drafts],
        "subjects": [item.subject for item in drafts],
        "bodies": [item.body for item in drafts],
        "template_keys": [plan.template.key if plan.template else None for plan in plans],
        "variables": [dump_json(item.variables) for item in drafts],
    }
    rows = (await connection.execute(INSERT_QUEUED, parameters)).all()
    return [(int(message_id), int(event_id)) for message_id, event_id in rows]
