"""A tenant ready to send: a default sandbox integration for every channel and two templates."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from gateway.db import Database
from gateway.tables import Integration, Template
from resolvers.bootstrap import SANDBOX_CHANNELS
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
