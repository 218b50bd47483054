"""Accepted messages written with their `queued` events (on PostgreSQL in one statement, columns
as arrays): each draft gets its own row and event, in order, whatever plans the drafts come from
and whatever other transaction inserts at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.db import Database
from resolvers.composing import Draft, Plan
from resolvers.integrations import Route
from resolvers.message_fields import SendFields
from resolvers.message_store import EVENTS, MESSAGES, insert_planned
from resolvers.templates import TemplateRecord
from tests.support.databases import migrated_database
from tests.support.messaging import sending_tenant


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


def sms_plan(tenant_id: int, integration_id: int | None, template: TemplateRecord | None = None) -> Plan:
    fields = SendFields.model_validate({"channel": "sms", "to": "+40740000000", "body": "hi"})
    route = Route("integration", integration_id, "sandbox", "+15005550006", {})
    return Plan(tenant_id=tenant_id, channel="sms", route=route, template=template, fields=fields)


async def test_each_draft_gets_its_row_and_event_in_order_across_plans(db: Database) -> None:
    (first, first_integration), (second, _) = await sending_tenant(db), await sending_tenant(db)
    now = datetime.now(UTC)
    reminder = TemplateRecord(1, "reminder", "sms", "Reminder", None, "Hi {{ name }}", ["name"], now, now)
    plans = [sms_plan(first.id, first_integration, reminder), sms_plan(second.id, None)]
    planned = [(plans[n % 2], Draft(f"+4074{n:07d}", None, f"body {n}", {"n": n, "big": 2**70}))
               for n in range(300)]  # fmt: skip

    async with db.writing() as connection:
        stored = await insert_planned(connection, planned, now=now, batch_id="b_order")

    async with db.reading() as connection:
        query = select(MESSAGES.c.id, MESSAGES.c.tenant_id, MESSAGES.c.integration_id, MESSAGES.c.to,
                       MESSAGES.c.body, MESSAGES.c.variables, MESSAGES.c.status, MESSAGES.c.batch_id,
                       MESSAGES.c.created_at, MESSAGES.c.template_key, MESSAGES.c.sender)  # fmt: skip
        rows = {row.id: row for row in await connection.execute(query)}
        events = (await connection.execute(select(EVENTS).order_by(EVENTS.c.id))).all()
    assert [item.id for item in stored] == sorted(item.id for item in stored)
    for item, (plan, draft) in zip(stored, planned, strict=True):
        row = rows[item.id]
        assert (item.to, row.to, row.body, row.variables) == (draft.to, draft.to, draft.body, draft.variables)
        assert (row.tenant_id, row.integration_id) == (plan.tenant_id, plan.route.integration_id)
        assert (row.template_key, row.sender) == (plan.template and plan.template.key, "+15005550006")
        assert (row.status, row.batch_id, row.created_at, item.created_at) == ("queued", "b_order", now, now)
    assert [(event.id, event.message_id) for event in events] == [(item.event_id, item.id) for item in stored]
    assert {(event.status, event.occurred_at) for event in events} == {("queued", now)}


async def test_concurrent_inserts_each_keep_their_own_order(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    plan = sms_plan(tenant.id, integration_id)

    async def insert_batch(prefix: str) -> list[tuple[int, str]]:
        planned = [(plan, Draft(f"+40{prefix}{n:06d}", None, "hi", {})) for n in range(200)]
        async with db.writing() as connection:
            stored = await insert_planned(connection, planned, now=datetime.now(UTC))
        return [(item.id, item.to) for item in stored]

    batches = await asyncio.gather(*(insert_batch(prefix) for prefix in ("741", "742", "743")))

    async with db.reading() as connection:
        recipients = dict((await connection.execute(select(MESSAGES.c.id, MESSAGES.c.to))).all())
    for batch in batches:
        assert [recipients[message_id] for message_id, _ in batch] == [to for _, to in batch]
