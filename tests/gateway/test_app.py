"""Application assembly: CORS for browser dashboards, health checks, unknown paths."""

from __future__ import annotations

import socket

import httpx

from gateway.app import create_app
from gateway.settings import Settings


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
