"""First start, the command line and health checks, on a real process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, run_cli, start_server

CONTACTS = "/api/v1/integrations/contacts"


@pytest.mark.e2e
def test_first_start_seeds_the_demo_tenant_once(tmp_path: Path, fresh_database_url: str | None) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, fresh_database_url)
    try:
        key = first.demo_key
        created = httpx.post(
            f"{first.base_url}{CONTACTS}", json={"email": "kept@example.com"}, headers={"X-API-Key": key}
        )
        assert created.status_code == 201
        me = httpx.post(
            f"{first.base_url}/graphql",
            json={"query": "{ me { scopes tenant { slug } } }"},
            headers={"X-API-Key": key},
        ).json()
        assert me["data"]["me"] == {"scopes": "*", "tenant": {"slug": "demo"}}
    finally:
        first.stop()
    second = start_server(data_dir, fresh_database_url)
    try:
        assert not [line for line in second.output if line.startswith("wck_")]
        listed = httpx.get(f"{second.base_url}{CONTACTS}", headers={"X-API-Key": key}).json()
        assert [contact["email"] for contact in listed["data"]] == ["kept@example.com"]
    finally:
        second.stop()


@pytest.mark.e2e
def test_cli_creates_keys_and_users(server: ServerProcess, fresh_database_url: str | None) -> None:
    created = run_cli(server.data_dir, fresh_database_url, "apikey", "create", "--tenant", "demo",
                      "--scopes", "read,send", "--name", "integration")  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("wck_")
    headers = {"X-API-Key": key}
    assert httpx.get(f"{server.base_url}{CONTACTS}", headers=headers).status_code == 200
    write = httpx.post(f"{server.base_url}{CONTACTS}", json={"email": "x@example.com"}, headers=headers)
    assert write.status_code == 403
    user = run_cli(server.data_dir, fresh_database_url, "user", "create", "--email", "owner@example.com",
                   "--password", "correct horse battery", "--tenant", "demo", "--role", "owner")  # fmt: skip
    assert user.returncode == 0, user.stderr
    login = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": "owner@example.com", "password": "correct horse battery"},
    )
    assert login.status_code == 200
    bad_scope = run_cli(
        server.data_dir, fresh_database_url, "apikey", "create", "--tenant", "demo", "--scopes", "admin"
    )
    assert bad_scope.returncode == 2
    assert "scopes" in bad_scope.stderr
    unknown_tenant = run_cli(server.data_dir, fresh_database_url, "apikey", "create", "--tenant", "nope")
    assert unknown_tenant.returncode == 2


@pytest.mark.e2e
def test_health_endpoints(server: ServerProcess) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] is True


@pytest.mark.e2e
def test_concurrent_first_starts_seed_once(tmp_path: Path, fresh_database_url: str | None) -> None:
    """Scaled out, several gateways start together on one empty PostgreSQL database."""
    if fresh_database_url is None:
        pytest.skip("the embedded SQLite default runs one gateway process per data directory")
    with ThreadPoolExecutor(max_workers=3) as pool:
        starts = [pool.submit(start_server, tmp_path / f"data{n}", fresh_database_url) for n in range(3)]
        servers = [start.result() for start in starts]
    try:
        keys = [line for server in servers for line in server.output if line.startswith("wck_")]
        assert len(keys) == 1
        for server in servers:
            listed = httpx.get(f"{server.base_url}{CONTACTS}", headers={"X-API-Key": keys[0].strip()})
            assert listed.status_code == 200
    finally:
        for server in servers:
            server.stop()
