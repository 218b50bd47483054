"""Throw-away databases for tests: a SQLite file, or a fresh PostgreSQL database on the local server."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from gateway.db import Database
from gateway.migrate import upgrade_to_head
from gateway.settings import Settings

BACKEND = os.environ.get("WECONN_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get("WECONN_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test")


def _admin_dsn() -> str:
    url = make_url(POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(directory: Path) -> str:
    """A new, empty database of the selected backend; returns its SQLAlchemy URL."""
    if BACKEND == "sqlite":
        return f"sqlite+aiosqlite:///{directory / f'weconn-{secrets.token_hex(4)}.db'}"
    name = f"weconn_test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(_admin_dsn())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    if BACKEND == "sqlite":
        return
    name = make_url(url).database
    connection = await asyncpg.connect(_admin_dsn())
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def migrated_database(directory: Path) -> AsyncIterator[Database]:
    """A fresh database of the selected backend at the latest schema, dropped afterwards: for
    tests that must not share the session's database with its running workers."""
    url = await create_database(directory)
    settings = Settings(env="test", database_url=url, data_dir=directory, secret_key="k" * 48)
    db = Database(settings)
    try:
        await upgrade_to_head(db.engine)
        yield db
    finally:
        await db.dispose()
        await drop_database(url)


def count_transactions(db: Database) -> list[int]:
    """A one-item list counting the transactions begun on `db` from now on."""
    begun = [0]

    def on_begin(_connection: object) -> None:
        begun[0] += 1

    event.listen(db.engine.sync_engine, "begin", on_begin)
    return begun
