"""Single sends written many at a time: the sends that arrive together share one transaction.

Under load, N concurrent single sends pay one BEGIN ... COMMIT, one multi-row INSERT of messages
and of their `queued` events, one publish and one enqueue per group of workers' messages, instead
of N of each. Each request still answers only after its row is committed and handed over; alone,
a send goes at the next turn of the loop (`gateway.group_commit`). A batch's hand-over runs while
the next batch is written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from gateway.bus import EventPublisher
from gateway.db import Database
from gateway.group_commit import group_commit
from gateway.queue import TaskQueue
from resolvers.composing import Draft, Plan, opted_out, opted_out_error
from resolvers.context import Context
from resolvers.message_store import Stored, hand_over_planned, insert_planned

BATCH_SIZE = 200  # sends in one transaction
WRITERS = 2  # transactions in flight at once (on SQLite, one: see group_commit)


@dataclass(frozen=True, slots=True)
class PendingSend:
    plan: Plan
    item: Draft
    bus: EventPublisher | None  # where the committed message goes: the request's services
    queue: TaskQueue


@dataclass(frozen=True, slots=True)
class Written:
    stored: Stored
    handed_over: asyncio.Future[None]  # its batch's publish and enqueue


_handing_over: set[asyncio.Future[None]] = set()  # strong references until each is done


async def store_send(ctx: Context, plan: Plan, item: Draft) -> Stored:
    """Writes one `queued` message with its event, commits and hands it to the workers."""
    pending = PendingSend(plan, item, ctx.bus, ctx.task_queue())
    writer = group_commit(ctx.db, store_sends, batch_size=BATCH_SIZE, concurrency=WRITERS)
    written = await writer.submit(pending)
    await asyncio.shield(written.handed_over)
    return written.stored


async def store_sends(db: Database, pending: list[PendingSend]) -> list[Written | BaseException]:
    """Each send's stored message, in order. Should the batch fail, each send is tried on its own,
    so that a row the database refuses fails its own request only."""
    try:
        stored: list[Stored | BaseException] = list(await _insert(db, pending))
    except Exception:
        if len(pending) == 1:
            raise
        stored = [await _alone(db, send) for send in pending]
    written = [(send, item) for send, item in zip(pending, stored, strict=True) if isinstance(item, Stored)]
    handed_over = asyncio.ensure_future(_hand_over(written))
    _handing_over.add(handed_over)
    handed_over.add_done_callback(_handing_over.discard)
    return [item if isinstance(item, BaseException) else Written(item, handed_over) for item in stored]


async def _insert(db: Database, pending: list[PendingSend]) -> list[Stored | BaseException]:
    """The batch's opt-outs are checked in its own transaction: one query per tenant and channel."""
    async with db.writing() as connection:
        refused: set[int] = set()
        for _, group in groupby(sorted(enumerate(pending), key=_route_of), key=_route_of):
            sends = list(group)
            addresses = await opted_out(connection, sends[0][1].plan, [send.item.to for _, send in sends])
            refused |= {index for index, send in sends if send.item.to in addresses}
        accepted = [send for index, send in enumerate(pending) if index not in refused]
        planned = [(send.plan, send.item) for send in accepted]
        stored = iter(await insert_planned(connection, planned, now=datetime.now(UTC)) if planned else [])
    return [
        opted_out_error(send.item.to, send.plan.channel) if index in refused else next(stored)
        for index, send in enumerate(pending)
    ]


def _route_of(indexed: tuple[int, PendingSend]) -> tuple[int, str]:
    return indexed[1].plan.tenant_id, indexed[1].plan.channel


async def _alone(db: Database, send: PendingSend) -> Stored | BaseException:
    try:
        [stored] = await _insert(db, [send])
    except Exception as error:  # noqa: BLE001 - it becomes this send's own error
        return error
    return stored


async def _hand_over(written: list[tuple[PendingSend, Stored]]) -> None:
    """One hand-over per set of services (in practice the application's one bus and queue)."""
    written = sorted(written, key=_services)
    for _, group in groupby(written, key=_services):
        pairs = list(group)
        first = pairs[0][0]
        await hand_over_planned(first.bus, first.queue, [(send.plan, item) for send, item in pairs])


def _services(pair: tuple[PendingSend, Stored]) -> tuple[int, int]:
    return id(pair[0].bus), id(pair[0].queue)
