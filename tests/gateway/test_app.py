"""Application assembly: CORS for browser dashboards, health checks, unknown paths."""

from __future__ import annotations

import gc
import socket

import httpx
import pytest

from gateway import db as db_module
from gateway.app import create_app
from gateway.gc_tuning import YOUNG_THRESHOLD
from gateway.settings import Settings
from tests.support.tenants import TenantKeys


async def test_cors_preflight_for_configured_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": "https://dash.example.com"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        allowed = await client.options(
            "/graphql",
            headers={
                "Origin": "https://dash.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, x-tenant-id, content-type",
            },
        )
        refused = await client.options(
            "/graphql",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
    await app.state.db.dispose()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert "x-tenant-id" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400


async def test_no_cors_headers_unless_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://dash.example.com"})
    assert "access-control-allow-origin" not in response.headers


async def test_readyz_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


async def test_readyz_is_503_when_the_broker_is_unreachable(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port}/0"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/readyz")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


async def test_an_exhausted_connection_pool_is_a_503_to_retry(
    settings: Settings, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that finds no free connection in time is told to come back, over REST and GraphQL."""
    monkeypatch.setattr(db_module, "POOL_TIMEOUT_SECONDS", 0.2)
    app = create_app(settings.model_copy(update={"db_pool_size": 1}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            app.state.db.reading(),  # holds the only connection
        ):
            rest = await client.get("/api/v1/integrations/contacts", headers=tenant.headers())
            graphql = await client.post(
                "/graphql", json={"query": "{ contacts { totalCount } }"}, headers=tenant.headers()
            )
    finally:
        await app.state.db.dispose()
    assert rest.status_code == 503, rest.text
    assert rest.headers["retry-after"] == "1"
    assert rest.json()["error"]["code"] == "service_unavailable"
    assert graphql.json()["errors"][0]["extensions"]["code"] == "service_unavailable", graphql.text


def test_start_up_leaves_its_heap_out_of_the_collectors_way(app: object) -> None:
    """The `app` fixture ran the lifespan: what start-up built is frozen, young collections are rarer."""
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
