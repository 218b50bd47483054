"""The service on a database of its own, with webhooks to loopback allowed and a compressed retry
schedule, so deliveries reach a receiver in the test process within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.migrate import upgrade_to_head
from gateway.settings import Settings
from tests.support.databases import create_database, drop_database
from tests.support.tenants import TenantKeys

API = "/api/v1/integrations/webhooks"
RETRY_SCHEDULE = "0,0.2,0.2,0.2,0.2"  # five attempts, 200 ms apart


def webhook_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test", "database_url": database_url, "data_dir": data_dir,
        "secret_key": "test-signing-key-" * 3, "sandbox_delivery_delay_ms": 50, "send_retry_base_ms": 50,
        "sweep_interval_seconds": 0.5, "sweep_stale_seconds": 2, "receipt_timeout_seconds": 2,
        "webhook_allow_private": True, "webhook_retry_schedule": RETRY_SCHEDULE,
        "webhook_dispatch_interval_seconds": 0.05, "webhook_gap_seconds": 1, "sandbox_call_step_ms": 50,
    }  # fmt: skip
    return Settings(**(values | overrides))


@asynccontextmanager
async def webhook_service(data_dir: Path, **overrides: Any) -> AsyncIterator[Any]:
    """A second service with its own database and workers, beside the session's `app` (each worker
    pool runs its actors on a loop of its own, so the two never share one)."""
    url = await create_database(data_dir)
    application = create_app(webhook_settings(url, data_dir, **overrides))
    await upgrade_to_head(application.state.db.engine)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await drop_database(url)


async def register(http: httpx.AsyncClient, tenant: TenantKeys, url: str, **fields: Any) -> dict[str, Any]:
    response = await http.post(API, json={"url": url, **fields}, headers=tenant.headers())
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def endpoint(http: httpx.AsyncClient, tenant: TenantKeys, endpoint_id: int) -> dict[str, Any]:
    listed = (await http.get(API, params={"per_page": 100}, headers=tenant.headers())).json()["data"]
    [found] = [item for item in listed if item["id"] == endpoint_id]
    return dict(found)


async def deliveries(http: httpx.AsyncClient, tenant: TenantKeys, endpoint_id: int) -> list[dict[str, Any]]:
    response = await http.get(
        f"{API}/{endpoint_id}/deliveries", params={"per_page": 100}, headers=tenant.headers()
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def settled_delivery(
    http: httpx.AsyncClient, tenant: TenantKeys, endpoint_id: int, delivery_id: int, seconds: float = 15
) -> dict[str, Any]:
    """The delivery once it left `pending` (succeeded, failed or exhausted)."""
    deadline = time.monotonic() + seconds
    while True:
        [found] = [item for item in await deliveries(http, tenant, endpoint_id) if item["id"] == delivery_id]
        if found["status"] != "pending":
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
