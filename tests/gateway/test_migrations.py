"""The Alembic migrations build exactly the schema the SQLModel tables describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import gateway.tables  # noqa: F401 - registers every table
from gateway.db import Database


async def test_migrated_database_matches_the_tables(db: Database) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with db.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_migrations_are_idempotent(db: Database) -> None:
    from gateway.migrate import upgrade_to_head  # noqa: PLC0415 - the call under test

    await upgrade_to_head(db.engine)
    await upgrade_to_head(db.engine)
