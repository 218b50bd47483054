"""Throw-away databases for tests: a SQLite file, or a fresh PostgreSQL database on the local server."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

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
