"""Claims and send records of groups that arrive together: on PostgreSQL one transaction for up
to GROUPS_PER_TRANSACTION groups (on SQLite one each), each group answered with its own messages,
none of them twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.bus import EventBus
from gateway.db import Database
from resolvers import status_writers
from resolvers.batch_delivery import claim_all
from resolvers.delivery import Delivery, Outgoing
from resolvers.message_store import EVENTS, MESSAGES
from resolvers.status_writers import GROUPS_PER_TRANSACTION, claim_many, sent_many
from tests.support.databases import count_transactions, migrated_database
from tests.support.messaging import sending_tenant, stored_message


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


async def test_groups_claimed_together_share_a_transaction_and_each_gets_its_own(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    ids = [await stored_message(db, tenant.id, integration_id, to=f"+4074{n:07d}") for n in range(3)]
    bus = EventBus()
    listener = bus.listen(tenant.id)
    delivery = Delivery(db, db.settings, bus)
    begun = count_transactions(db)

    # The second group repeats a message of the first (a group the sweeper sent again meanwhile).
    groups = [ids, [ids[1], 999_999]]  # no more than GROUPS_PER_TRANSACTION: one transaction
    claimed = await asyncio.gather(*(claim_many(delivery, group) for group in groups))

    assert [[message.id for message in part] for part in claimed] == [ids, []]
    assert begun[0] == (len(groups) if db.is_sqlite else 1)
    await asyncio.sleep(0)  # the bus hands events over at the next turn of the loop
    events = listener.drain()
    assert sorted(event.message_id for event in events) == ids
    assert {event.status for event in events} == {"sending"}
    listener.close()


async def test_more_groups_than_a_transaction_takes_go_in_the_next_ones(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    count = GROUPS_PER_TRANSACTION * 2 + 1
    ids = [await stored_message(db, tenant.id, integration_id, to=f"+4074{n:07d}") for n in range(count)]
    delivery = Delivery(db, db.settings, None)
    begun = count_transactions(db)

    claimed = await asyncio.gather(*(claim_many(delivery, [message_id]) for message_id in ids))

    assert [[message.id for message in part] for part in claimed] == [[message_id] for message_id in ids]
    assert begun[0] == (count if db.is_sqlite else 3)  # two full transactions, then the one left


async def test_sends_recorded_together_share_a_transaction(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    ids = [await stored_message(db, tenant.id, integration_id, to=f"+4074{n:07d}") for n in range(4)]
    delivery = Delivery(db, db.settings, None)
    first, second = await asyncio.gather(claim_many(delivery, ids[:2]), claim_many(delivery, ids[2:]))
    begun = count_transactions(db)

    await asyncio.gather(
        sent_many(delivery, [(message, f"SBw{message.id}") for message in first]),
        sent_many(delivery, [(message, f"SBw{message.id}") for message in second]),
        sent_many(delivery, []),  # nothing accepted: nothing written
    )

    assert begun[0] == (2 if db.is_sqlite else 1)
    async with db.reading() as connection:
        query = select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.provider_message_id)
        stored = {row.id: (row.status, row.provider_message_id) for row in await connection.execute(query)}
        sent_events = await connection.execute(select(EVENTS.c.message_id).where(EVENTS.c.status == "sent"))
        recorded = sorted(sent_events.scalars())
    assert stored == {message_id: ("sent", f"SBw{message_id}") for message_id in ids}
    assert recorded == ids


async def test_a_group_whose_merged_claim_fails_fails_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, integration_id = await sending_tenant(db)
    ids = [await stored_message(db, tenant.id, integration_id, to=f"+4074{n:07d}") for n in range(3)]
    delivery = Delivery(db, db.settings, None)
    poisoned = ids[2]

    async def refusing(delivery: Delivery, message_ids: list[int]) -> list[Outgoing]:
        if poisoned in message_ids:
            raise RuntimeError("the database refused a row")
        return await claim_all(delivery, message_ids)

    monkeypatch.setattr(status_writers, "claim_all", refusing)

    good, bad = await asyncio.gather(
        claim_many(delivery, ids[:2]), claim_many(delivery, [poisoned]), return_exceptions=True
    )

    assert isinstance(good, list)
    assert [message.id for message in good] == ids[:2]
    assert isinstance(bad, RuntimeError)
