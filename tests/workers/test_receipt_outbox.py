"""The sandbox's receipts travel in groups: one broker message per turn of the worker's loop, and
a group is applied in one go, each receipt answered (an unknown provider id is tried again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db import Database
from resolvers.delivery import Delivery
from resolvers.message_store import EVENTS, MESSAGES
from resolvers.receipt_batches import apply_calls
from resolvers.receipts import RECEIPTS_ACTOR
from tests.support.databases import migrated_database
from tests.support.messaging import sending_tenant, stored_message
from workers.providers.receipt_outbox import ReceiptOutbox


class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, list[tuple[Any, ...]], int | None]] = []

    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        self.enqueued.append((actor, list(calls), delay_ms))

    async def pending(self, actor: str) -> int:
        return 0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


async def test_the_receipts_of_one_turn_go_as_one_message() -> None:
    queue = RecordingQueue()
    outbox = ReceiptOutbox(queue, delay_ms=200)

    await asyncio.gather(*(outbox.post(("sandbox", f"SB{n}", "delivered", None, None)) for n in range(50)))
    await outbox.post(("sandbox", "SBlate", "undelivered", "30005", "unknown handset"))

    assert [(actor, len(calls), delay) for actor, calls, delay in queue.enqueued] == [
        (RECEIPTS_ACTOR, 1, 200),
        (RECEIPTS_ACTOR, 1, 200),
    ]
    [(first_group,)], [(second_group,)] = (calls for _, calls, _ in queue.enqueued)
    assert [receipt[1] for receipt in first_group] == [f"SB{n}" for n in range(50)]
    assert second_group == [("sandbox", "SBlate", "undelivered", "30005", "unknown handset")]


async def test_a_group_is_applied_with_each_receipt_answered(db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    plain, failing = [
        await stored_message(
            db, tenant.id, integration_id, to=f"+4074000005{n}", status="sent", provider_message_id=f"SBg{n}"
        )
        for n in range(2)
    ]
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
