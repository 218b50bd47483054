"""Delivery receipts applied many at a time: those that arrive together share one transaction.

A provider reports each message on its own (a callback, a sandbox receipt), so a busy pipeline
gets as many receipts as messages. Receipts without an error are grouped (`gateway.group_commit`):
one lookup of their messages, one UPDATE per target status, one counter move per campaign, one
multi-row event INSERT and one publish, with the guarantees of `Delivery.receipt` row by row.
A receipt carrying an error goes alone through `Delivery.receipt`, which records the error; so
does every single receipt on SQLite (see `apply_receipt`). Receipts that arrive already together
(`apply_calls`: the sandbox's of one send group) are applied together on either database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import StatusEvent
from gateway.db import Database
from gateway.group_commit import GroupCommit, group_commit
from resolvers.batch_delivery import move_counters, record_events
from resolvers.delivery import Delivery
from resolvers.message_status import RANK, MessageStatus, predecessors
from resolvers.message_store import MESSAGES

BATCH_SIZE = 100  # receipts in one transaction (100 rows, as a worker's claims: see status_writers)
WRITERS = 1  # transactions at once per loop: one at a time, each runs its statements back to back
ReceiptCall = tuple[str, str, str, str | None, str | None]  # provider, its id, status, error code, text


@dataclass(frozen=True, slots=True)
class Receipt:
    delivery: Delivery  # the process's delivery service: its database and bus
    provider: str
    provider_message_id: str
    status: MessageStatus


async def apply_receipt(
    delivery: Delivery,
    *,
    provider: str,
    provider_message_id: str,
    status: MessageStatus,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """`Delivery.receipt`, grouped with the receipts that arrive meanwhile; False when no message
    has this provider id (yet)."""
    if error_code or delivery.db.is_sqlite:
        # SQLite (embedded): grouping raised `delivered`'s p90 from 45 ms to 2.2 s in the
        # subscriptions bench, for a cause not found yet (docs/benchmarks.md); one at a time there.
        return await delivery.receipt(
            provider=provider, provider_message_id=provider_message_id, status=status,
            error_code=error_code, error_message=error_message,
        )  # fmt: skip
    return await _writer(delivery.db).submit(Receipt(delivery, provider, provider_message_id, status))


async def apply_calls(delivery: Delivery, calls: Sequence[ReceiptCall]) -> list[bool]:
    """Receipts that came together (the sandbox's of one send group), in the transactions of the
    receipts that arrive meanwhile; whether each one's message exists, in order."""
    known: dict[int, bool] = {}
    plain: list[tuple[int, Receipt]] = []
    for index, (provider, provider_id, status, code, text) in enumerate(calls):
        if code:  # recorded with its error, on its own
            known[index] = await delivery.receipt(
                provider=provider, provider_message_id=provider_id, status=MessageStatus(status),
                error_code=code, error_message=text,
            )  # fmt: skip
        else:
            plain.append((index, Receipt(delivery, provider, provider_id, MessageStatus(status))))
    outcomes = await _apply_together(delivery, [receipt for _, receipt in plain])
    known |= {index: outcome for (index, _), outcome in zip(plain, outcomes, strict=True)}
    return [known[index] for index in range(len(calls))]


async def _apply_together(delivery: Delivery, receipts: list[Receipt]) -> list[bool]:
    """On PostgreSQL with the receipts that arrive meanwhile, one transaction at a time; on SQLite
    (one writer at a time anyway) in transactions of their own (see `resolvers.status_writers`)."""
    if delivery.db.is_sqlite:
        outcomes: list[bool | BaseException] = []
        for start in range(0, len(receipts), BATCH_SIZE):
            outcomes += await apply_receipts(delivery.db, receipts[start : start + BATCH_SIZE])
    else:
        outcomes = await _writer(delivery.db).submit_many(receipts)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):  # the actor tries the whole group again
            raise outcome
    return [outcome is True for outcome in outcomes]


def _writer(db: Database) -> GroupCommit[Receipt, bool]:
    """This loop's writer of receipt groups on `db` (`apply_receipt`'s and `apply_calls`')."""
    return group_commit(db, apply_receipts, batch_size=BATCH_SIZE, concurrency=WRITERS)


async def apply_receipts(db: Database, receipts: list[Receipt]) -> list[bool | BaseException]:
    """Whether each receipt's message exists, in order; each existing one moved if it moves forward."""
    events: list[StatusEvent] = []
    async with db.writing() as connection:
        now = datetime.now(UTC)  # the moves happen here, once the writer has its transaction
        ids = await _message_ids(connection, receipts)
        targets: dict[MessageStatus, set[int]] = defaultdict(set)
        for receipt in receipts:
            message_id = ids.get((receipt.provider, receipt.provider_message_id))
            if message_id is not None:
                targets[receipt.status].add(message_id)
        for status in sorted(targets, key=lambda target: RANK[target]):  # delivered before read
            events += await _move(connection, sorted(targets[status]), status, now)
    if events:
        await receipts[0].delivery.publish(events)  # one delivery service per process and loop
    return [(receipt.provider, receipt.provider_message_id) in ids for receipt in receipts]


async def _message_ids(connection: AsyncConnection, receipts: list[Receipt]) -> dict[tuple[str, str], int]:
    by_provider: dict[str, set[str]] = defaultdict(set)
    for receipt in receipts:
        by_provider[receipt.provider].add(receipt.provider_message_id)
    found: dict[tuple[str, str], int] = {}
    for provider, provider_ids in sorted(by_provider.items()):
        rows = await connection.execute(provider_id_lookup(provider, sorted(provider_ids)))
        found |= {(provider, row.provider_message_id): row.id for row in rows}
    return found


def provider_id_lookup(provider: str, provider_ids: list[str]) -> Select[tuple[str | None, int | None]]:
    """The messages of one provider's ids: one scan of the index led by the provider's id
    (migration 0007 says why it leads)."""
    return select(MESSAGES.c.provider_message_id, MESSAGES.c.id).where(
        MESSAGES.c.provider_message_id.in_(provider_ids), MESSAGES.c.provider == provider
    )


async def _move(
    connection: AsyncConnection, message_ids: list[int], target: MessageStatus, now: datetime
) -> list[StatusEvent]:
    """Moves to `target` those of the messages for which it is a forward move; their events."""
    statement = (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(message_ids), MESSAGES.c.status.in_(predecessors(target)))
        .values(status=target.value, previous_status=MESSAGES.c.status, updated_at=now)
        .returning(MESSAGES.c.id, MESSAGES.c.tenant_id, MESSAGES.c.channel, MESSAGES.c.campaign_id,
                   MESSAGES.c.previous_status)
    )  # fmt: skip
    rows = sorted(await connection.execute(statement), key=lambda row: row.id)
    await move_counters(
        connection, [(row.campaign_id, row.id, row.previous_status) for row in rows], target.value
    )
    moved = [(row.tenant_id, row.id, row.channel, row.campaign_id) for row in rows]
    return await record_events(connection, moved, target.value, now)
