"""New contacts written many at a time: the creates that arrive together share one transaction.

One multi-row INSERT ... ON CONFLICT DO NOTHING holds the batch, so a taken email or phone skips
only its own row: that caller gets the usual 409 and the others their contacts. Two creates of
one batch with the same address: the first is written, the second collides with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database, upsert_insert
from gateway.group_commit import group_commit
from resolvers.contact_records import COLUMNS, CONTACTS, ContactRecord, duplicate_error, index_tags
from resolvers.webhook_events import emit_events

BATCH_SIZE = 200  # contacts in one transaction
AddressKey = tuple[int, str, str]  # (tenant id, "email" | "phone", the address)


async def insert_contact(db: Database, values: dict[str, Any]) -> ContactRecord:
    """Writes one `contacts` row (all its columns but the id) with its tags and its
    `contact.created` event; Conflict when its email or phone is taken in its tenant."""
    return await group_commit(db, insert_contacts, batch_size=BATCH_SIZE).submit(values)


async def insert_contacts(db: Database, rows: list[dict[str, Any]]) -> list[ContactRecord | BaseException]:
    """Each row's contact, or the Conflict its caller gets, in the order of `rows`."""
    fresh = _first_with_their_addresses(rows)
    written: dict[int, ContactRecord] = {}
    if fresh:
        async with db.writing() as connection:
            written = await _insert(connection, rows, fresh)
            for tenant_id in sorted({rows[at]["tenant_id"] for at in written}):
                created = [record for at, record in written.items() if rows[at]["tenant_id"] == tenant_id]
                await index_tags(connection, tenant_id, [(record.id, record.tags) for record in created])
                await emit_events(connection, tenant_id, [("contact.created", record) for record in created])
    outcomes: list[ContactRecord | BaseException] = []
    for at, row in enumerate(rows):
        if at in written:
            outcomes.append(written[at])
        else:
            tenant_id, email, phone = row["tenant_id"], row["email"], row["phone"]
            outcomes.append(await duplicate_error(db, tenant_id, email=email, phone=phone, own_id=None))
    return outcomes


def _first_with_their_addresses(rows: list[dict[str, Any]]) -> list[int]:
    """Positions of the rows whose email and phone no earlier row of the batch has."""
    claimed: set[AddressKey] = set()
    fresh: list[int] = []
    for at, row in enumerate(rows):
        keys = _keys(row["tenant_id"], row["email"], row["phone"])
        if not keys & claimed:
            fresh.append(at)
        claimed |= keys
    return fresh


async def _insert(
    connection: AsyncConnection, rows: list[dict[str, Any]], fresh: list[int]
) -> dict[int, ContactRecord]:
    """position -> its new contact, for the rows written (not those whose address was taken)."""
    statement = (
        upsert_insert(connection, CONTACTS).on_conflict_do_nothing().returning(*COLUMNS, CONTACTS.c.tenant_id)
    )
    by_address: dict[AddressKey, ContactRecord] = {}
    for *columns, tenant_id in await connection.execute(statement, [rows[at] for at in fresh]):
        record = ContactRecord.from_row(columns)
        by_address.update(dict.fromkeys(_keys(tenant_id, record.email, record.phone), record))
    written: dict[int, ContactRecord] = {}
    for at in fresh:  # their addresses are distinct, so any one of a row's keys finds its contact
        found = by_address.get(min(_keys(rows[at]["tenant_id"], rows[at]["email"], rows[at]["phone"])))
        if found is not None:
            written[at] = found
    return written


def _keys(tenant_id: int, email: str | None, phone: str | None) -> set[AddressKey]:
    keys: set[AddressKey] = set()
    if email is not None:
        keys.add((tenant_id, "email", email))
    if phone is not None:
        keys.add((tenant_id, "phone", phone))
    return keys
