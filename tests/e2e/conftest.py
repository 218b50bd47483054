"""Whole-process tests: `weconn serve` on a free port, against a fresh database of the selected backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.databases import BACKEND, create_database, drop_database
from tests.support.server import ServerProcess, start_server


@pytest.fixture
async def fresh_database_url(tmp_path: Path) -> AsyncIterator[str | None]:
    """None on SQLite (the server's own embedded default); a new empty database on PostgreSQL."""
    if BACKEND == "sqlite":
        yield None
        return
    url = await create_database(tmp_path)
    yield url
    await drop_database(url)


@pytest.fixture
def server(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "data", fresh_database_url)
    yield process
    process.stop()


@pytest.fixture(scope="module")
async def module_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str | None]:
    if BACKEND == "sqlite":
        yield None
        return
    url = await create_database(tmp_path_factory.mktemp("database"))
    yield url
    await drop_database(url)


@pytest.fixture(scope="module")
def module_server(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ServerProcess]:
    """One server for a module whose tests make only their own data (a start costs seconds)."""
    process = start_server(tmp_path_factory.mktemp("server") / "data", module_database_url)
    yield process
    process.stop()
