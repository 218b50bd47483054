"""Receipts applied together: each message moves forward once per status, in order, with its event;
a receipt for an unknown provider id says so (the actor retries it); receipts that came together
(`apply_calls`) are answered each, those with an error recorded with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from gateway.bus import EventBus
from gateway.db import Database
from resolvers.delivery import Delivery
from resolvers.message_status import MessageStatus
from resolvers.message_store import EVENTS, MESSAGES
from resolvers.receipt_batches import Receipt, apply_calls, apply_receipt, apply_receipts, provider_id_lookup
from tests.support.databases import count_transactions, migrated_database
from tests.support.messaging import sending_tenant, stored_message

DELIVERED, READ = MessageStatus.DELIVERED, MessageStatus.READ


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


async def sent_messages(
    db: Database, tenant_id: int, integration_id: int, provider_ids: list[str]
) -> list[int]:
    """`sent` messages, one per provider id, each to a recipient of its own."""
    return [
        await stored_message(
            db, tenant_id, integration_id, to=f"+4074{n:07d}", status="sent", provider_message_id=provider_id
        )
        for n, provider_id in enumerate(provider_ids)
    ]


async def test_receipts_of_one_batch_move_each_message_in_order(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    first, second = await sent_messages(db, tenant.id, integration_id, ["SB0", "SB1"])
    bus = EventBus()
    listener = bus.listen(tenant.id)
    delivery = Delivery(db, db.settings, bus)
    batch = [Receipt(delivery, "sandbox", "SB0", READ), Receipt(delivery, "sandbox", "SB0", DELIVERED),
             Receipt(delivery, "sandbox", "SB1", DELIVERED), Receipt(delivery, "sandbox", "SB1", DELIVERED),
             Receipt(delivery, "sandbox", "SB-unknown", DELIVERED)]  # fmt: skip

    assert await apply_receipts(db, batch) == [True, True, True, True, False]

    async with db.reading() as connection:
        statuses = dict((await connection.execute(select(MESSAGES.c.id, MESSAGES.c.status))).all())
        stored = (
            await connection.execute(select(EVENTS.c.message_id, EVENTS.c.status).order_by(EVENTS.c.id))
        ).all()
    assert statuses == {first: "read", second: "delivered"}
    assert [tuple(row) for row in stored] == [(first, "delivered"), (second, "delivered"), (first, "read")]
    await asyncio.sleep(0)  # the bus hands events over at the next turn of the loop
    assert [(event.message_id, event.status) for event in listener.drain()] == [tuple(row) for row in stored]
    listener.close()


async def test_concurrent_receipts_share_a_transaction_and_answer_each(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    await sent_messages(db, tenant.id, integration_id, [f"SBc{n}" for n in range(20)])
    delivery = Delivery(db, db.settings, None)

    known = await asyncio.gather(
        *(apply_receipt(delivery, provider="sandbox", provider_message_id=f"SBc{n}", status=DELIVERED)
          for n in range(21))  # the last one names no message
    )  # fmt: skip

    assert known == [True] * 20 + [False]
    async with db.reading() as connection:
        query = select(MESSAGES.c.status).where(MESSAGES.c.tenant_id == tenant.id)
        assert set((await connection.execute(query)).scalars()) == {"delivered"}


async def test_a_group_is_applied_with_each_receipt_answered(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    plain, failing = await sent_messages(db, tenant.id, integration_id, ["SBg0", "SBg1"])
    delivery = Delivery(db, db.settings, None)

    known = await apply_calls(
        delivery,
        [
            ("sandbox", "SBg0", "delivered", None, None),
            ("sandbox", "SBnot-yet", "delivered", None, None),  # its `sent` is not recorded yet
            ("sandbox", "SBg1", "undelivered", "30005", "unknown destination handset"),
        ],
    )

    assert known == [True, False, True]
    async with db.reading() as connection:
        rows = (
            await connection.execute(select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.error_code))
        ).all()
        events = (await connection.execute(select(EVENTS.c.message_id, EVENTS.c.status))).all()
    assert {tuple(row) for row in rows} == {(plain, "delivered", None), (failing, "undelivered", "30005")}
    assert {tuple(event) for event in events} == {(plain, "delivered"), (failing, "undelivered")}


async def test_groups_that_arrive_together_share_a_transaction_on_postgresql(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    await sent_messages(db, tenant.id, integration_id, ["SBt0", "SBt1", "SBt2"])
    delivery = Delivery(db, db.settings, None)
    begun = count_transactions(db)

    known = await asyncio.gather(
        apply_calls(delivery, [("sandbox", "SBt0", "delivered", None, None)]),
        apply_calls(delivery, [("sandbox", "SBt1", "delivered", None, None),
                               ("sandbox", "SBt2", "delivered", None, None)]),
    )  # fmt: skip

    assert known == [[True], [True, True]]
    assert begun[0] == (2 if db.is_sqlite else 1)  # SQLite's one writer runs them one by one anyway


async def test_a_group_lookup_reads_its_own_rows_before_the_table_has_statistics(db: Database) -> None:
    """Led by `provider`, the index let PostgreSQL, on a table not analyzed yet, read every row of
    the provider for 32 receipts (80 ms on 10,000 messages); led by the id, it reads only theirs."""
    tenant, integration_id = await sending_tenant(db)
    now = datetime.now(UTC)
    row = {"tenant_id": tenant.id, "integration_id": integration_id, "channel": "sms", "route": "integration",
           "provider": "sandbox", "to": "+40740000000", "body": "Your code is 123456. " * 10, "variables": {},
           "status": "sent", "attempts": 1, "created_at": now, "updated_at": now}  # fmt: skip
    rows = [row | {"provider_message_id": f"SBs{n:05d}"} for n in range(10_000)]
    async with db.writing() as connection:
        await connection.execute(insert(MESSAGES), rows)
    wanted = [f"SBs{n:05d}" for n in range(0, 10_000, 313)]  # 32 ids
    lookup = provider_id_lookup("sandbox", wanted)

    async with db.reading() as connection:
        literal = str(lookup.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = "\n".join(str(row[-1]) for row in await connection.execute(text(explain + literal)))
        found = {row.provider_message_id for row in await connection.execute(lookup)}
    if db.is_sqlite:
        assert "INDEX ix_messages_provider_message_id (provider_message_id=? AND provider=?)" in plan
    else:
        assert "Index Cond: (((provider_message_id)::text = ANY" in plan, plan
    assert found == set(wanted)
