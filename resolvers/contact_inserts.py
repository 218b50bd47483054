"""New contacts written many at a time: the creates that arrive together share one transaction.

One multi-row INSERT ... ON CONFLICT DO NOTHING holds the batch, so a taken email or phone skips
only its own row: that caller gets the usual 409 and the others their contacts. Two creates of
one batch with the same address: the first is written, the second collides with it.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Insert

from gateway.db import Database, dialect_insert
from gateway.group_commit import group_commit
from resolvers.contact_records import CONTACTS, ContactRecord, duplicate_error, insert_tags
from resolvers.webhook_events import write_events

BATCH_SIZE = 200  # contacts in one transaction
RECORD_FIELDS = ("name", "email", "phone", "tags", "metadata", "created_at", "updated_at")
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
        written = await db.run_write(functools.partial(_write, rows=rows, fresh=fresh))
    outcomes: list[ContactRecord | BaseException] = []
    for at, row in enumerate(rows):
        if at in written:
            outcomes.append(written[at])
        else:
            tenant_id, email, phone = row["tenant_id"], row["email"], row["phone"]
            outcomes.append(await duplicate_error(db, tenant_id, email=email, phone=phone, own_id=None))
    return outcomes


def _write(
    connection: Connection, *, rows: list[dict[str, Any]], fresh: list[int]
) -> dict[int, ContactRecord]:
    """The batch's one transaction: the contacts, their tags, their `contact.created` events."""
    written = _insert(connection, rows, fresh)
    for tenant_id in sorted({rows[at]["tenant_id"] for at in written}):
        created = [record for at, record in written.items() if rows[at]["tenant_id"] == tenant_id]
        insert_tags(connection, tenant_id, [(record.id, record.tags) for record in created])
        write_events(connection, tenant_id, [("contact.created", record) for record in created])
    return written


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


def _insert(connection: Connection, rows: list[dict[str, Any]], fresh: list[int]) -> dict[int, ContactRecord]:
    """position -> its new contact, for the rows written (not those whose address was taken)."""
    statement = _insert_statement(connection.dialect.name)
    ids: dict[AddressKey, int] = {}
    for contact_id, tenant_id, email, phone in connection.execute(statement, [rows[at] for at in fresh]):
        ids.update(dict.fromkeys(_keys(tenant_id, email, phone), contact_id))
    written: dict[int, ContactRecord] = {}
    for at in fresh:  # their addresses are distinct, so any one of a row's keys finds its contact
        row = rows[at]
        contact_id = ids.get(min(_keys(row["tenant_id"], row["email"], row["phone"])))
        if contact_id is not None:
            written[at] = ContactRecord(id=contact_id, **{field: row[field] for field in RECORD_FIELDS})
    return written


@functools.cache
def _insert_statement(dialect_name: str) -> Insert:
    """Built once per dialect: a statement object kept keeps its cache key (SQLAlchemy recomputes
    a new object's key on every execution). It returns only what identifies each new row: the
    rest of a contact is what was written."""
    identity = (CONTACTS.c.id, CONTACTS.c.tenant_id, CONTACTS.c.email, CONTACTS.c.phone)
    return dialect_insert(dialect_name, CONTACTS).on_conflict_do_nothing().returning(*identity)


def _keys(tenant_id: int, email: str | None, phone: str | None) -> set[AddressKey]:
    keys: set[AddressKey] = set()
    if email is not None:
        keys.add((tenant_id, "email", email))
    if phone is not None:
        keys.add((tenant_id, "phone", phone))
    return keys
