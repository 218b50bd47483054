"""One import chunk: match rows to the tenant's contacts in memory, then write with bulk statements.

The plan reads the contacts holding any of the chunk's emails or phones (two indexed queries),
applies the rows in file order to in-memory copies (so a later row sees what an earlier one
did), then writes each touched contact once: updates, then inserts, then the new tag rows, then
one `contact.created` or `contact.updated` webhook event per contact, as a create or an update
through the API emits (in the same transaction, and only when the tenant has a webhook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers.contact_import_parsing import ImportRow, RowError
from resolvers.contact_records import CONTACT_TAGS, CONTACTS, ContactRecord
from resolvers.webhook_events import emit_events

MAX_TAGS = 50  # what a contact create or update accepts
COLUMNS = (
    CONTACTS.c.id,
    CONTACTS.c.name,
    CONTACTS.c.email,
    CONTACTS.c.phone,
    CONTACTS.c.tags,
    CONTACTS.c["metadata"],
    CONTACTS.c.created_at,
)


@dataclass(eq=False, slots=True)  # compared by identity: one object per contact
class _Target:
    id: int | None  # None: created by this chunk
    name: str
    email: str | None
    phone: str | None
    tags: list[str]
    metadata: dict[str, Any]
    first_row: int = 0  # the row that created it, when it is new
    created_at: datetime | None = None
    stored_email: str | None = None
    stored_phone: str | None = None
    stored_tags: frozenset[str] = frozenset()

    def label(self) -> str:
        return f"contact {self.id}" if self.id is not None else f"the contact of row {self.first_row}"


@dataclass(slots=True)
class ChunkPlan:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    targets: list[_Target] = field(default_factory=list)  # touched, in first-touched order


async def plan_chunk(connection: AsyncConnection, tenant_id: int, rows: list[ImportRow]) -> ChunkPlan:
    plan = ChunkPlan()
    by_email: dict[str, _Target] = {}
    by_phone: dict[str, _Target] = {}
    for contact in await _stored(connection, tenant_id, rows):
        if contact.email is not None:
            by_email[contact.email] = contact
        if contact.phone is not None:
            by_phone[contact.phone] = contact
    touched: set[_Target] = set()
    for row in rows:
        by_address = by_email.get(row.email) if row.email else None
        by_number = by_phone.get(row.phone) if row.phone else None
        if by_address is not None and by_number is not None and by_address is not by_number:
            message = f"the email is {by_address.label()}'s and the phone {by_number.label()}'s"
            plan.errors.append(RowError(row.row, "phone", message))
            continue
        target = by_address or by_number
        current = target.tags if target is not None else []
        tags = current + [tag for tag in row.tags if tag not in current]
        if len(tags) > MAX_TAGS:
            plan.errors.append(RowError(row.row, "tags", f"a contact has at most {MAX_TAGS} tags"))
            continue
        if target is None:
            target = _Target(
                id=None, name="", email=None, phone=None, tags=[], metadata={}, first_row=row.row
            )
            plan.created += 1
        else:
            plan.updated += 1
        _apply(target, row, tags, by_email, by_phone)
        if target not in touched:
            touched.add(target)
            plan.targets.append(target)
    return plan


def _apply(
    target: _Target,
    row: ImportRow,
    tags: list[str],
    by_email: dict[str, _Target],
    by_phone: dict[str, _Target],
) -> None:
    """The row's given fields replace the contact's; its tags join the contact's."""
    if row.email is not None and row.email != target.email:
        if target.email is not None:
            del by_email[target.email]  # freed: a later row may give it to another contact
        target.email = row.email
        by_email[row.email] = target
    if row.phone is not None and row.phone != target.phone:
        if target.phone is not None:
            del by_phone[target.phone]
        target.phone = row.phone
        by_phone[row.phone] = target
    if row.name is not None:
        target.name = row.name
    if row.metadata is not None:
        target.metadata = row.metadata
    target.tags = tags


async def _stored(connection: AsyncConnection, tenant_id: int, rows: list[ImportRow]) -> list[_Target]:
    emails = sorted({row.email for row in rows if row.email})
    phones = sorted({row.phone for row in rows if row.phone})
    found: dict[int, _Target] = {}
    for column, values in ((CONTACTS.c.email, emails), (CONTACTS.c.phone, phones)):
        if not values:
            continue
        query = select(*COLUMNS).where(CONTACTS.c.tenant_id == tenant_id, column.in_(values))
        for row in await connection.execute(query):
            found[row.id] = _Target(
                id=row.id, name=row.name, email=row.email, phone=row.phone, tags=list(row.tags),
                metadata=row.metadata, created_at=row.created_at, stored_email=row.email,
                stored_phone=row.phone, stored_tags=frozenset(row.tags),
            )  # fmt: skip
    return list(found.values())


async def write_plan(connection: AsyncConnection, tenant_id: int, plan: ChunkPlan) -> None:
    now = datetime.now(UTC)
    stored = [target for target in plan.targets if target.id is not None]
    new = [target for target in plan.targets if target.id is None]
    moved = [
        {"target_id": target.id}
        for target in stored
        if (target.stored_email is not None and target.email != target.stored_email)
        or (target.stored_phone is not None and target.phone != target.stored_phone)
    ]
    if moved:
        # An address may pass from one contact to another inside a chunk (even both ways): free
        # the changed ones first, so no order of the updates below meets the unique constraints.
        clear = _UPDATE_ONE.where(CONTACTS.c.tenant_id == tenant_id).values(email=None, phone=None)
        await connection.execute(clear, moved)
    if stored:
        await connection.execute(
            _UPDATE.where(CONTACTS.c.tenant_id == tenant_id).values(updated_at=now),
            [_update_values(target) for target in stored],
        )
    if new:
        values = [_insert_values(tenant_id, target, now) for target in new]
        # Rows come back matched by address, not by order: SQLite only promises the order when
        # inserting one row at a time (sort_by_parameter_order), fifteen times slower.
        by_address = {(target.email, target.phone): target for target in new}
        statement = insert(CONTACTS).returning(CONTACTS.c.id, CONTACTS.c.email, CONTACTS.c.phone)
        for row in await connection.execute(statement, values):
            by_address[row.email, row.phone].id = row.id
    # contact_tags mirrors the tags column; an import only adds tags, so only new rows are needed.
    tag_rows = [
        {"tenant_id": tenant_id, "contact_id": target.id, "tag": tag}
        for target in plan.targets
        for tag in target.tags
        if tag not in target.stored_tags
    ]
    if tag_rows:
        await connection.execute(insert(CONTACT_TAGS), tag_rows)
    events = [("contact.updated", _record(target, now)) for target in stored]
    events += [("contact.created", _record(target, now)) for target in new]
    await emit_events(connection, tenant_id, events)


def _record(target: _Target, now: datetime) -> ContactRecord:
    """The contact as the API shows it after this chunk."""
    assert target.id is not None
    return ContactRecord(
        id=target.id, name=target.name, email=target.email, phone=target.phone, tags=target.tags,
        metadata=target.metadata, created_at=target.created_at or now, updated_at=now,
    )  # fmt: skip


_UPDATE_ONE = update(CONTACTS).where(CONTACTS.c.id == bindparam("target_id"))  # executemany, by id
_UPDATE = _UPDATE_ONE.values(
    {
        "name": bindparam("new_name"),
        "email": bindparam("new_email"),
        "phone": bindparam("new_phone"),
        "tags": bindparam("new_tags", type_=CONTACTS.c.tags.type),
        "metadata": bindparam("new_metadata", type_=CONTACTS.c["metadata"].type),
    }
)


def _update_values(target: _Target) -> dict[str, Any]:
    return {
        "target_id": target.id,
        "new_name": target.name,
        "new_email": target.email,
        "new_phone": target.phone,
        "new_tags": target.tags,
        "new_metadata": target.metadata,
    }


def _insert_values(tenant_id: int, target: _Target, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "name": target.name,
        "email": target.email,
        "phone": target.phone,
        "tags": target.tags,
        "metadata": target.metadata,
        "created_at": now,
        "updated_at": now,
    }
