"""Single sends written together: each gets its own message, and a row the database refuses, or a
recipient who opted out, fails only its own send (the others are written, published and enqueued).
The route and template a send reads are kept a moment, and a template changed here is seen at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import EventBus
from gateway.db import Database
from resolvers import accounts, send_inserts, templates
from resolvers.composing import OPT_OUTS, Draft, Plan, RecipientOptedOut, cached_plan, draft, plan
from resolvers.context import Context
from resolvers.message_fields import SendFields
from resolvers.message_store import MESSAGES, SEND_GROUP_ACTOR, Stored, insert_planned
from resolvers.send_inserts import PendingSend, Written, store_sends
from resolvers.templates import TEMPLATES, TemplateFields
from tests.support.databases import migrated_database
from tests.support.messaging import sending_tenant
from tests.support.recording_queue import RecordingQueue

REFUSED = "+40740999999"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


async def tenant_context(db: Database, queue: RecordingQueue, bus: EventBus) -> Context:
    tenant, _ = await sending_tenant(db)
    principal = await accounts.authenticate(
        db, db.settings, api_key=tenant.full, bearer=None, tenant_ref=None
    )
    return Context(db=db, settings=db.settings, queue=queue, bus=bus, principal=principal)


async def sends(db: Database, queue: RecordingQueue, bus: EventBus, numbers: list[str]) -> list[PendingSend]:
    ctx = await tenant_context(db, queue, bus)
    fields = SendFields.model_validate({"channel": "sms", "to": numbers[0], "body": "hi"})
    async with db.reading() as connection:
        sending = await plan(ctx, fields, connection)
    return [PendingSend(sending, draft(sending, number, {}), bus, queue) for number in numbers]


async def test_a_refused_row_fails_only_its_own_send(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refusing(
        connection: AsyncConnection, planned: list[tuple[Plan, Draft]], *, now: datetime
    ) -> list[Stored]:
        if any(item.to == REFUSED for _, item in planned):
            raise RuntimeError("the database refused a row")
        return await insert_planned(connection, planned, now=now)

    monkeypatch.setattr(send_inserts, "insert_planned", refusing)
    queue, bus = RecordingQueue(), EventBus()
    pending = await sends(db, queue, bus, ["+40740000001", REFUSED, "+40740000002"])
    listener = bus.listen(pending[0].plan.tenant_id)

    outcomes = await store_sends(db, pending)

    good = [outcomes[0], outcomes[2]]
    assert all(isinstance(outcome, Written) for outcome in good)
    assert isinstance(outcomes[1], RuntimeError)
    ids = [outcome.stored.id for outcome in good if isinstance(outcome, Written)]
    for outcome in good:
        assert isinstance(outcome, Written)
        await outcome.handed_over
    async with db.reading() as connection:
        stored = (
            await connection.execute(select(MESSAGES.c.id, MESSAGES.c.to).order_by(MESSAGES.c.id))
        ).all()
    assert [(row.id, row.to) for row in stored] == list(
        zip(ids, ["+40740000001", "+40740000002"], strict=True)
    )
    assert queue.of(SEND_GROUP_ACTOR) == [(ids,)]
    await asyncio.sleep(0)  # the bus hands events over at the next turn of the loop
    assert sorted(event.message_id for event in listener.drain()) == ids
    listener.close()


async def test_an_opted_out_recipient_fails_only_its_own_send(db: Database) -> None:
    queue, bus = RecordingQueue(), EventBus()
    pending = await sends(db, queue, bus, ["+40740000001", "+40740000009", "+40740000002"])
    async with db.writing() as connection:
        row = {"tenant_id": pending[0].plan.tenant_id, "channel": "sms", "address": "+40740000009",
               "source": "api", "created_at": datetime.now(UTC)}  # fmt: skip
        await connection.execute(insert(OPT_OUTS).values(row))

    outcomes = await store_sends(db, pending)

    assert isinstance(outcomes[1], RecipientOptedOut)
    assert outcomes[1].code == "recipient_opted_out"
    written = [outcome for outcome in (outcomes[0], outcomes[2]) if isinstance(outcome, Written)]
    assert [outcome.stored.to for outcome in written] == ["+40740000001", "+40740000002"]
    await written[0].handed_over
    assert queue.of(SEND_GROUP_ACTOR) == [([outcome.stored.id for outcome in written],)]


async def test_a_route_is_read_once_a_moment_and_a_template_changed_here_is_seen_at_once(
    db: Database,
) -> None:
    ctx = await tenant_context(db, RecordingQueue(), EventBus())
    fields = SendFields.model_validate(
        {"channel": "sms", "to": "+40740000001", "template_key": "reminder", "variables": {"name": "A"}}
    )
    first = await cached_plan(ctx, fields)
    async with db.writing() as connection:  # a change made elsewhere: seen within the TTL only
        await connection.execute(update(TEMPLATES).values(body="Elsewhere {{ name }}"))
    kept = await cached_plan(ctx, fields)
    assert kept.template == first.template

    await templates.update_template(ctx, key="reminder", fields=TemplateFields(body="Hello {{ name }}"))

    changed = await cached_plan(ctx, fields)
    assert changed.template is not None
    assert draft(changed, "+40740000001", {"name": "A"}).body == "Hello A"
