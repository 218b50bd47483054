"""The dispatcher with nobody listening: it steps over settled events without reading them, and
never over an event that a late commit or a new endpoint could still need."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from gateway.db import Database
from resolvers.webhook_dispatch import CURSORS, dispatch_stream
from resolvers.webhook_records import DELIVERIES, ENDPOINTS, OUTBOX
from resolvers.webhook_streams import OUTBOX_STREAM
from tests.support.databases import migrated_database
from tests.support.tenants import new_tenant

OWNER = "test-dispatcher"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path) as database:
        yield database


async def add_event(db: Database, tenant_id: int, occurred_at: datetime) -> int:
    values = {"tenant_id": tenant_id, "type": "contact.created", "channel": None, "data": {"id": 1},
              "occurred_at": occurred_at}  # fmt: skip
    async with db.writing() as connection:
        return int(
            (await connection.execute(insert(OUTBOX).values(values).returning(OUTBOX.c.id))).scalar_one()
        )


async def position(db: Database) -> int:
    async with db.reading() as connection:
        query = select(CURSORS.c.position).where(CURSORS.c.stream == OUTBOX_STREAM)
        return int((await connection.execute(query)).scalar_one())


async def test_nobody_listening_skips_only_settled_events(db: Database) -> None:
    tenant = await new_tenant(db)
    now = datetime.now(UTC)
    assert await dispatch_stream(db, db.settings, OWNER, OUTBOX_STREAM) == (0, [])  # makes the cursor
    settled = [await add_event(db, tenant.id, now - timedelta(minutes=1)) for _ in range(3)]
    recent = await add_event(db, tenant.id, now)

    assert await dispatch_stream(db, db.settings, OWNER, OUTBOX_STREAM) == (0, [])

    assert await position(db) == settled[-1]  # not past `recent`, younger than the gap
    endpoint = {
        "tenant_id": tenant.id, "url": "https://hooks.example.com/in", "events": ["contact.created"],
        "secret": "whsec_x", "status": "enabled", "created_at": now - timedelta(seconds=1),
        "updated_at": now,
    }  # fmt: skip
    async with db.writing() as connection:
        await connection.execute(insert(ENDPOINTS).values(endpoint))
    read, deliveries = await dispatch_stream(db, db.settings, OWNER, OUTBOX_STREAM)
    assert (read, len(deliveries)) == (1, 1)  # `recent` still reaches the new endpoint
    async with db.reading() as connection:
        assert (await connection.execute(select(DELIVERIES.c.id))).scalars().all() == deliveries
    assert await position(db) == recent
