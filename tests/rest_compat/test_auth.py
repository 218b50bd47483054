"""Dashboard sign-in (login, refresh rotation), bearer + tenant access, and API key storage."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime
from unittest.mock import ANY

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import select

from gateway import auth
from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import ApiKey
from resolvers import accounts
from tests.support.tenants import TenantKeys

CONTACTS = "/api/v1/integrations/contacts"


async def make_user(db: Database, tenant: TenantKeys, role: str = "member") -> tuple[str, str]:
    email, password = f"user-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    await accounts.create_user(db, email=email, password=password, tenant_ref=tenant.slug, role=role)
    return email, password


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_login_then_bearer_with_tenant_header(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    email, password = await make_user(db, tenant)
    response = await login(client, email.upper(), password)
    assert response.status_code == 200, response.text
    tokens = response.json()["data"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["tenants"] == [{"id": tenant.id, "slug": tenant.slug, "name": ANY, "role": "member"}]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    by_slug = await client.get(CONTACTS, headers={**bearer, "X-Tenant-Id": tenant.slug})
    assert by_slug.status_code == 200
    by_id = await client.post(
        CONTACTS, json={"email": "bearer@example.com"}, headers={**bearer, "X-Tenant-Id": str(tenant.id)}
    )
    assert by_id.status_code == 201
    not_member = await client.get(CONTACTS, headers={**bearer, "X-Tenant-Id": other_tenant.slug})
    assert not_member.status_code == 403
    assert not_member.json()["error"]["code"] == "forbidden"
    no_tenant = await client.get(CONTACTS, headers=bearer)
    assert no_tenant.status_code == 400
    assert "X-Tenant-Id" in no_tenant.json()["error"]["fields"]


async def test_wrong_password_and_unknown_user_are_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    email, _ = await make_user(db, tenant)
    assert (await login(client, email, "wrong-password")).status_code == 401
    unknown = await login(client, "nobody@example.com", "whatever1")
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "unauthenticated"


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    email, password = await make_user(db, tenant)
    first = (await login(client, email, password)).json()["data"]
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    headers = {"Authorization": f"Bearer {second['access_token']}", "X-Tenant-Id": tenant.slug}
    assert (await client.get(CONTACTS, headers=headers)).status_code == 200
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    after_theft = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after_theft.status_code == 401


async def test_expired_or_forged_access_tokens_are_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, settings: Settings
) -> None:
    email, password = await make_user(db, tenant)
    await login(client, email, password)
    expired, _ = auth.issue_access_token(user_id=1, signing_key=settings.signing_key(), ttl_seconds=-5)
    forged, _ = auth.issue_access_token(user_id=1, signing_key="another-key-" * 4, ttl_seconds=300)
    for token in (expired, forged, "garbage"):
        response = await client.get(
            CONTACTS, headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": "1"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_graphql_accepts_bearer_and_tenant(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    email, password = await make_user(db, tenant, role="admin")
    token = (await login(client, email, password)).json()["data"]["access_token"]
    query = "{ me { kind role memberships { role tenant { slug } } } tenant { slug } }"
    response = await client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": tenant.slug},
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["me"]["kind"] == "user"
    assert body["data"]["me"]["memberships"] == [{"role": "admin", "tenant": {"slug": tenant.slug}}]
    assert body["data"]["tenant"]["slug"] == tenant.slug


async def test_only_a_hash_and_prefix_of_a_key_are_stored(db: Database, tenant: TenantKeys) -> None:
    created = await accounts.create_api_key(db, tenant_ref=tenant.slug, scopes="read,send", name="stored")
    assert created.key.startswith("wck_")
    assert len(created.key) >= 40
    async with db.sessions() as session:
        row = (await session.exec(select(ApiKey).where(ApiKey.id == created.id))).one()
    assert row.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert row.prefix == created.key[:12]
    assert created.key not in {str(value) for value in row.model_dump().values()}
    assert row.scopes == "read,send"


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantKeys,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = await accounts.create_api_key(db, tenant_ref=tenant.slug, scopes="read", name="touch")

    async def last_used() -> datetime | None:
        async with db.sessions() as session:
            return (await session.exec(select(ApiKey.last_used_at).where(ApiKey.id == created.id))).one()

    assert await last_used() is None
    await client.get(CONTACTS, headers={"X-API-Key": created.key})
    first = await last_used()
    assert first is not None
    await client.get(CONTACTS, headers={"X-API-Key": created.key})
    assert await last_used() == first
    monkeypatch.setattr(settings, "api_key_touch_interval_seconds", 0)
    await client.get(CONTACTS, headers={"X-API-Key": created.key})
    latest = await last_used()
    assert latest is not None
    assert latest > first


async def test_revoking_takes_effect_at_once_despite_the_cache(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    created = await accounts.create_api_key(db, tenant_ref=tenant.slug, scopes="read", name="cached")
    for _ in range(3):
        assert (await client.get(CONTACTS, headers={"X-API-Key": created.key})).status_code == 200
    await accounts.revoke_api_key(db, key_id=created.id)
    assert (await client.get(CONTACTS, headers={"X-API-Key": created.key})).status_code == 401


async def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, settings: Settings
) -> None:
    """Another process revoked it (a direct UPDATE here): the key fails once its cache entry ages out."""
    created = await accounts.create_api_key(db, tenant_ref=tenant.slug, scopes="read", name="elsewhere")
    assert (await client.get(CONTACTS, headers={"X-API-Key": created.key})).status_code == 200
    async with db.writing() as connection:
        await connection.execute(
            update(accounts.API_KEYS)
            .where(accounts.API_KEYS.c.id == created.id)
            .values(revoked_at=datetime.now(UTC))
        )
    await asyncio.sleep(settings.api_key_cache_seconds + 0.1)
    assert (await client.get(CONTACTS, headers={"X-API-Key": created.key})).status_code == 401
