"""Contact import: a CSV or JSON lines file upserted into the tenant's contacts, in chunks.

Each row updates the tenant's contact with its email, else the one with its phone, else creates
a contact. An update replaces the name, email, phone and metadata the row gives (an empty cell or
a missing key keeps the stored value) and adds the row's tags to the contact's (tags are never
removed by an import). A row whose email and phone belong to two different contacts fails alone.

Rows are normalised off the event loop, then written `CHUNK_ROWS` at a time in one transaction
each, with bulk statements; a chunk that collides with a concurrent write is planned again.
Chunks commit as they go, and importing the same file again converges on the same contacts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway.db import Database
from resolvers.contact_import_parsing import ImportFile, ImportRow, Record, RowError, open_import, prepare
from resolvers.contact_import_plan import ChunkPlan, plan_chunk, write_plan
from resolvers.context import Context
from resolvers.errors import Conflict
from resolvers.tenants import find_tenant

MAX_IMPORT_ROWS = 100_000
MAX_REPORTED_ERRORS = 1000
CHUNK_ROWS = 1000
CHUNK_ATTEMPTS = 3  # a chunk is planned again when a concurrent write took one of its addresses
FIRST_ANALYZE_AT = 5000  # rows created by one import; then at each doubling (PostgreSQL only)

Progress = Callable[[int, int], None]  # (rows done, rows in the file)


@dataclass(slots=True)
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: bool = False

    def add_errors(self, errors: list[RowError]) -> None:
        """Counts the rows that failed; keeps the first MAX_REPORTED_ERRORS messages."""
        self.failed += len({error.row for error in errors})
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(errors[:room])
        self.errors_truncated = self.errors_truncated or len(errors) > room


async def import_contacts(
    ctx: Context, *, body: bytes, file_format: str, progress: Progress | None = None
) -> ImportReport:
    """Imports into the caller's tenant (scope `write`)."""
    tenant_id = ctx.require("write").tenant_id
    return await _import(ctx.db, tenant_id, body=body, file_format=file_format, progress=progress)


async def import_contacts_as_operator(
    db: Database, *, tenant_ref: str, body: bytes, file_format: str, progress: Progress | None = None
) -> ImportReport:
    """Imports into a tenant named by slug or id (the `weconn contacts import` command)."""
    async with db.sessions() as session:
        tenant = await find_tenant(session, tenant_ref)
    assert tenant.id is not None
    return await _import(db, tenant.id, body=body, file_format=file_format, progress=progress)


async def _import(
    db: Database, tenant_id: int, *, body: bytes, file_format: str, progress: Progress | None
) -> ImportReport:
    imported = await asyncio.to_thread(open_import, body, file_format, max_rows=MAX_IMPORT_ROWS)
    report = ImportReport(total=imported.total)
    chunks = _chunks(imported)
    # Normalising (email-validator, phonenumbers) is the CPU-heavy part: it runs in a thread,
    # one chunk ahead of the writes, so the event loop keeps serving other requests meanwhile.
    pending = asyncio.ensure_future(asyncio.to_thread(_next_prepared, chunks))
    done = 0
    analyze_at = FIRST_ANALYZE_AT
    try:
        while (prepared := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(_next_prepared, chunks))
            size, (rows, errors) = prepared
            plan = await _write_chunk(db, tenant_id, rows)
            report.created += plan.created
            report.updated += plan.updated
            report.add_errors(sorted([*errors, *plan.errors], key=lambda error: error.row))
            if report.created >= analyze_at and not db.is_sqlite:
                await _refresh_statistics(db)
                analyze_at *= 2
            done += size
            if progress is not None:
                progress(done, imported.total)
    finally:
        if not pending.done():
            pending.cancel()
        elif not pending.cancelled():
            pending.exception()  # retrieved, so an early exit never logs it as unhandled
    return report


Prepared = tuple[int, tuple[list[ImportRow], list[RowError]]]  # rows read, and their outcome


def _chunks(imported: ImportFile) -> Iterator[list[Record]]:
    records = imported.records()
    while chunk := list(islice(records, CHUNK_ROWS)):
        yield chunk


def _next_prepared(chunks: Iterator[list[Record]]) -> Prepared | None:
    chunk = next(chunks, None)
    if chunk is None:
        return None
    return len(chunk), prepare(chunk)


async def _write_chunk(db: Database, tenant_id: int, rows: list[ImportRow]) -> ChunkPlan:
    for _attempt in range(CHUNK_ATTEMPTS):
        try:
            async with db.writing() as connection:
                plan = await plan_chunk(connection, tenant_id, rows)
                await write_plan(connection, tenant_id, plan)
            return plan
        except IntegrityError:
            continue  # another writer took an address between our read and our write
    raise Conflict("concurrent changes to the same contacts kept colliding with this import; retry it")


async def _refresh_statistics(db: Database) -> None:
    """PostgreSQL plans the address lookups from table statistics; while this import grows the
    tenant's contacts from few to many, stale statistics make it scan the tenant's contacts for
    every chunk instead of probing the unique indexes (minutes instead of seconds at 100,000)."""
    async with db.writing() as connection:
        await connection.execute(text("ANALYZE contacts"))
