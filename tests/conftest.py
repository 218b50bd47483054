"""Shared fixtures: one database per test session on the selected backend, the app, tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.db import Database
from gateway.migrate import upgrade_to_head
from gateway.settings import Settings
from tests.support import task_dump
from tests.support.databases import create_database, drop_database
from tests.support.tenants import TenantKeys, new_tenant


def pytest_configure(config: pytest.Config) -> None:
    """`kill -USR1` a stuck suite for its tasks' stacks (tests/support/task_dump.py)."""
    task_dump.install(Path(config.option.basetemp or "."))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weconn")


@pytest.fixture(scope="session")
async def database_url(data_dir: Path) -> AsyncIterator[str]:
    url = await create_database(data_dir)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-signing-key-" * 3,
        sandbox_delivery_delay_ms=50,
        send_retry_base_ms=50,
        sweep_interval_seconds=0.5,
        sweep_stale_seconds=2,
        receipt_timeout_seconds=2,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    """The service with its embedded workers and sweeper running, as `weconn serve` runs it."""
    application = create_app(settings)
    await upgrade_to_head(application.state.db.engine)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def db(app: object) -> Database:
    return app.state.db  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def tenant(db: Database) -> TenantKeys:
    return await new_tenant(db)


@pytest.fixture
async def other_tenant(db: Database) -> TenantKeys:
    return await new_tenant(db)


@pytest.fixture(scope="session")
async def quiet_app(settings: Settings) -> AsyncIterator[object]:
    """The same service with no workers or sweeper: nothing else touches its engine (query counts)."""
    application = create_app(settings, run_workers=False)
    await upgrade_to_head(application.state.db.engine)  # also when no test used `app` first
    yield application
    await application.state.db.dispose()


@pytest.fixture(scope="session")
def quiet_db(quiet_app: object) -> Database:
    return quiet_app.state.db  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
async def quiet_client(quiet_app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=quiet_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
