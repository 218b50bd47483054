"""A worker's claims and send records, merged: groups that arrive together share a transaction.

A batch of 500 messages reaches a worker as ten groups at once. Claimed each in its own
transaction, the ten took turns on the event loop statement by statement, so each lasted about
as long as all ten together; a status change is stamped once its transaction has begun, so
subscribers heard of every one that much later. Here one transaction at a time (per kind and
event loop, `gateway.group_commit`) claims, or records, what has arrived meanwhile, up to
GROUPS_PER_TRANSACTION groups: short transactions, run back to back, and each caller gets its
own part of the result (receipt groups are merged the same way, in `resolvers.receipt_batches`).
Should a merged transaction fail, each group is tried on its own (`each_alone_on_error`), so
that a failure stays with the group it came from.

On SQLite each group keeps its own transaction: the one writer lock already runs them one at a
time, back to back, and merging them only made each longer (docs/benchmarks.md, session 9).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.db import Database
from gateway.group_commit import group_commit
from resolvers.batch_delivery import claim_all, record_sent
from resolvers.delivery import Delivery, Outgoing

GROUPS_PER_TRANSACTION = 2  # 100 rows at 50 a group: 200 made the p99 of the worker's changes 10 ms longer


@dataclass(frozen=True, slots=True)
class Claim:
    delivery: Delivery  # the process's delivery service on this loop: its database and bus
    message_ids: list[int]


@dataclass(frozen=True, slots=True)
class SentRecord:
    delivery: Delivery
    accepted: list[tuple[Outgoing, str]]  # a claimed message and the provider's id for it


async def claim_many(delivery: Delivery, message_ids: list[int]) -> list[Outgoing]:
    """The claimable messages of `message_ids`, claimed (see `Delivery.claim`); the others are left."""
    if delivery.db.is_sqlite:
        return await claim_all(delivery, message_ids)
    writer = group_commit(
        delivery.db, claim_groups, batch_size=GROUPS_PER_TRANSACTION, each_alone_on_error=True
    )
    return await writer.submit(Claim(delivery, message_ids))


async def sent_many(delivery: Delivery, accepted: list[tuple[Outgoing, str]]) -> None:
    """Records each provider acceptance (see `Delivery.sent`)."""
    if delivery.db.is_sqlite:
        await record_sent(delivery, {message.id: provider_id for message, provider_id in accepted})
    elif accepted:
        writer = group_commit(
            delivery.db, record_groups, batch_size=GROUPS_PER_TRANSACTION, each_alone_on_error=True
        )
        await writer.submit(SentRecord(delivery, accepted))


async def claim_groups(_db: Database, claims: list[Claim]) -> list[list[Outgoing] | BaseException]:
    """Each group's claimed messages, in its order. A message in two groups (a group sent again
    by the sweeper while the first is in flight) goes to the first only: it is sent once."""
    wanted = sorted({message_id for claim in claims for message_id in claim.message_ids})
    claimed = {message.id: message for message in await claim_all(claims[0].delivery, wanted)}
    # pop: a message handed to one group is no longer there for the next
    return [[claimed.pop(message_id) for message_id in claim.message_ids if message_id in claimed]
            for claim in claims]  # fmt: skip


async def record_groups(_db: Database, records: list[SentRecord]) -> list[BaseException | None]:
    provider_ids = {message.id: provider_id for record in records for message, provider_id in record.accepted}
    await record_sent(records[0].delivery, provider_ids)
    return [None] * len(records)
