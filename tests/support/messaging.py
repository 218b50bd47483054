"""A tenant ready to send: a default sandbox integration for every channel and two templates."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert

from gateway.db import Database
from gateway.tables import Integration, Template
from resolvers.bootstrap import SANDBOX_CHANNELS
from resolvers.message_store import MESSAGES
from tests.support.tenants import TenantKeys, new_tenant

SEND = "/api/v1/integrations/messages/send"


async def sending_tenant(db: Database) -> tuple[TenantKeys, int]:
    """A new tenant and the id of its default (sandbox) integration."""
    tenant = await new_tenant(db)
    async with db.sessions() as session:
        integration = Integration(
            tenant_id=tenant.id, name="Sandbox", channels=SANDBOX_CHANNELS, is_default=True
        )
        session.add(integration)
        session.add(
            Template(
                tenant_id=tenant.id, key="reminder", channel="sms", body="Hi {{ name }}", variables=["name"]
            )
        )
        session.add(Template(tenant_id=tenant.id, key="update", channel="whatsapp", body="Order {{ order }}",
                             variables=["order"]))  # fmt: skip
        await session.commit()
        assert integration.id is not None
        return tenant, integration.id


async def stored_message(db: Database, tenant_id: int, integration_id: int, **values: Any) -> int:
    """A message row written straight to the database (a state the API would not make on demand);
    `values` override an sms to a sandbox number, `queued`, created now."""
    now = datetime.now(UTC)
    row = {"tenant_id": tenant_id, "integration_id": integration_id, "channel": "sms", "route": "integration",
           "provider": "sandbox", "to": "+40740000000", "body": "hi", "variables": {}, "status": "queued",
           "attempts": 0, "created_at": now, "updated_at": now} | values  # fmt: skip
    async with db.writing() as connection:
        inserted = await connection.execute(insert(MESSAGES).values(row).returning(MESSAGES.c.id))
        return int(inserted.scalar_one())


async def send(client: httpx.AsyncClient, tenant: TenantKeys, **body: Any) -> httpx.Response:
    return await client.post(SEND, json=body, headers=tenant.headers())


async def wait_for_status(
    client: httpx.AsyncClient, tenant: TenantKeys, message_id: int, statuses: set[str], seconds: float = 15
) -> dict[str, Any]:
    """Polls the status endpoint until the message reaches one of `statuses`; returns the last view."""
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get(
            f"/api/v1/integrations/messages/{message_id}/status", headers=tenant.headers()
        )
        view: dict[str, Any] = response.json()["data"]
        if view["status"] in statuses or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.05)
