"""A campaign's counts, kept in step with its messages inside the same transactions.

Every bucket is a count of messages now in that status (plus `skipped` contacts), so the
buckets always add up to `total`; a status read sums COUNTER_SHARDS rows, whatever the size.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables import Campaign, CampaignCounter
from gateway.tables.campaigns import COUNTER_SHARDS
from gateway.tables.columns import table_of
from resolvers.campaign_status import CampaignStatus

CAMPAIGNS = table_of(Campaign)
COUNTERS = table_of(CampaignCounter)
BUCKETS = (
    "skipped", "queued", "sending", "sent", "delivered", "read", "undelivered", "failed", "cancelled",
)  # fmt: skip
IN_FLIGHT = ("queued", "sending")


async def create_shards(connection: AsyncConnection, campaign_id: int) -> None:
    rows = [{"campaign_id": campaign_id, "shard": shard} | dict.fromkeys(("total", *BUCKETS), 0)
            for shard in range(COUNTER_SHARDS)]  # fmt: skip
    await connection.execute(insert(COUNTERS), rows)


async def add(connection: AsyncConnection, campaign_id: int, shard: int, deltas: Mapping[str, int]) -> None:
    """Adds `deltas` ({bucket: n}, negative to take away) to one shard."""
    changes = {name: COUNTERS.c[name] + delta for name, delta in deltas.items() if delta}
    if not changes:
        return
    await connection.execute(
        update(COUNTERS)
        .where(COUNTERS.c.campaign_id == campaign_id, COUNTERS.c.shard == shard % COUNTER_SHARDS)
        .values(changes)
    )


async def moved(
    connection: AsyncConnection, *, campaign_id: int, message_id: int, before: str | None, after: str
) -> None:
    """One message of the campaign went from `before` to `after`."""
    if before == after or before is None:
        return
    await add(connection, campaign_id, message_id, {before: -1, after: 1})
    if before in IN_FLIGHT and after not in IN_FLIGHT:
        await complete_if_finished(connection, campaign_id=campaign_id)


async def moved_many(
    connection: AsyncConnection, campaign_id: int, moves: Iterable[tuple[int, str, str]]
) -> None:
    """Many messages moved: (message id, before, after) each; their summed deltas go to one shard,
    picked at random, so concurrent transactions of a campaign mostly lock different rows (a shard
    per message id made every group of 50 lock all of them). A shard's buckets may go below zero;
    only their sums across shards mean anything."""
    deltas: Counter[str] = Counter()
    for _message_id, before, after in moves:
        deltas[before] -= 1
        deltas[after] += 1
    await add(connection, campaign_id, random.randrange(COUNTER_SHARDS), deltas)  # noqa: S311 - spreading locks


def in_flight_count(campaign_id: int) -> Any:
    """A scalar subquery: the campaign's messages still `queued` or `sending`."""
    return (
        select(func.coalesce(func.sum(COUNTERS.c.queued + COUNTERS.c.sending), 0))
        .where(COUNTERS.c.campaign_id == campaign_id)
        .scalar_subquery()
    )


async def complete_if_finished(connection: AsyncConnection, *, campaign_id: int) -> bool:
    """`sending` -> `completed` once the fan-out is done and nothing is queued or sending.

    The campaign row is only written (locked) when it may complete: a fan-out chunk holds that row
    while it takes a counter shard, and a send holding a shard must not then wait for the row
    (that order, reversed, is a deadlock). A send that read `fanout_done` false just before the
    last chunk committed leaves the completion to the scheduler's pass over drained campaigns."""
    ready = select(CAMPAIGNS.c.id).where(
        CAMPAIGNS.c.id == campaign_id,
        CAMPAIGNS.c.status == CampaignStatus.SENDING.value,
        CAMPAIGNS.c.fanout_done.is_(True),
    )
    if (await connection.execute(ready)).first() is None:
        return False
    now = datetime.now(UTC)
    statement = (
        update(CAMPAIGNS)
        .where(
            CAMPAIGNS.c.id == campaign_id,
            CAMPAIGNS.c.status == CampaignStatus.SENDING.value,
            CAMPAIGNS.c.fanout_done.is_(True),
            in_flight_count(campaign_id) == 0,
        )
        .values(status=CampaignStatus.COMPLETED.value, completed_at=now, updated_at=now)
        .returning(CAMPAIGNS.c.tenant_id)
    )
    tenant_id = (await connection.execute(statement)).scalar()
    if tenant_id is None:
        return False
    # Imported here: webhook events read campaign records, which read these counters.
    from resolvers.webhook_events import emit_campaign_event  # noqa: PLC0415

    await emit_campaign_event(connection, tenant_id, campaign_id, "campaign.completed")
    return True


async def totals(connection: AsyncConnection, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """The summed buckets of each campaign (absent ones get zeros)."""
    columns = [func.sum(COUNTERS.c[name]).label(name) for name in ("total", *BUCKETS)]
    query = select(COUNTERS.c.campaign_id, *columns).where(COUNTERS.c.campaign_id.in_(campaign_ids))
    found = {
        row.campaign_id: {name: int(row._mapping[name] or 0) for name in ("total", *BUCKETS)}
        for row in await connection.execute(query.group_by(COUNTERS.c.campaign_id))
    }
    zeros = dict.fromkeys(("total", *BUCKETS), 0)
    return {campaign_id: found.get(campaign_id, dict(zeros)) for campaign_id in campaign_ids}
