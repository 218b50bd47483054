"""Campaign helpers: audiences written straight to the database, waits, and direct counts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from gateway.db import Database
from resolvers.campaign_counters import BUCKETS
from resolvers.contact_records import CONTACT_TAGS, CONTACTS
from resolvers.message_store import MESSAGES
from tests.support.tenants import TenantKeys

API = "/api/v1/integrations/campaigns"


async def add_contacts(
    db: Database, tenant_id: int, count: int, *, prefix: str = "c", tags: list[str] | None = None,
    email: bool = True, phone: bool = False, start: int = 0, phones: list[str] | None = None,
) -> list[int]:  # fmt: skip
    """`count` contacts (emails `<prefix>-<n>@example.com`, phones +4075<n>), in bulk; their ids."""
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": tenant_id,
            "name": f"{prefix.title()} {n}",
            "email": f"{prefix}-{n}@example.com" if email else None,
            "phone": phones[n - start] if phones else f"+4075{n:07d}" if phone else None,
            "tags": tags or [],
            "metadata": {"n": n},
            "created_at": now,
            "updated_at": now,
        }
        for n in range(start, start + count)
    ]
    ids: list[int] = []
    async with db.writing() as connection:
        for offset in range(0, len(rows), 5000):
            result = await connection.execute(
                insert(CONTACTS).returning(CONTACTS.c.id, sort_by_parameter_order=True),
                rows[offset : offset + 5000],
            )
            ids.extend(result.scalars())
        if tags:
            tag_rows = [
                {"tenant_id": tenant_id, "contact_id": cid, "tag": tag} for cid in ids for tag in tags
            ]
            await connection.execute(insert(CONTACT_TAGS), tag_rows)
    return ids


async def create(client: httpx.AsyncClient, tenant: TenantKeys, **body: Any) -> dict[str, Any]:
    response = await client.post(API, json=body, headers=tenant.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


async def status(client: httpx.AsyncClient, tenant: TenantKeys, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"{API}/{campaign_id}/status", headers=tenant.headers())
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()["data"]
    return view


async def wait_for(
    client: httpx.AsyncClient, tenant: TenantKeys, campaign_id: int, statuses: set[str], seconds: float = 30
) -> dict[str, Any]:
    """Polls the status endpoint until the campaign is in one of `statuses`; the last view."""
    deadline = time.monotonic() + seconds
    while True:
        view = await status(client, tenant, campaign_id)
        if view["status"] in statuses or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.05)


async def wait_until_settled(
    client: httpx.AsyncClient, tenant: TenantKeys, campaign_id: int, seconds: float = 30
) -> dict[str, Any]:
    """Until nothing is queued, sending or sent (awaiting a receipt) any more."""
    deadline = time.monotonic() + seconds
    while True:
        view = await status(client, tenant, campaign_id)
        stats = view["stats"]
        if (view["status"] == "completed" and stats["sent"] == 0) or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.05)


async def direct_counts(db: Database, campaign_id: int) -> dict[str, int]:
    """The campaign's messages per status, counted in the database (skipped aside)."""
    query = (
        select(MESSAGES.c.status, func.count())
        .where(MESSAGES.c.campaign_id == campaign_id)
        .group_by(MESSAGES.c.status)
    )
    async with db.reading() as connection:
        found = {row[0]: int(row[1]) for row in await connection.execute(query)}
    return {bucket: found.get(bucket, 0) for bucket in BUCKETS if bucket != "skipped"}


def adds_up(stats: dict[str, int]) -> bool:
    return sum(stats[bucket] for bucket in BUCKETS) == stats["total"]
