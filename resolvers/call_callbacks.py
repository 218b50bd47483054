"""A call's status callbacks to its `webhook_url`: one at a time, oldest first, each retried on
the webhook schedule until it is delivered (or the schedule runs out) before the next one goes.

Only one worker posts a call's callbacks at a time: the oldest pending one is taken by moving its
`next_attempt_at` a lease ahead in a conditional UPDATE, which only one taker can win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from gateway.db import Database
from gateway.settings import Settings
from resolvers.call_fields import CALLS
from resolvers.call_progress import CALLBACKS
from resolvers.call_secrets import signing_secret

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
CALLBACK_ACTOR = "deliver_call_callbacks"


@dataclass(frozen=True, slots=True)
class DueCallback:
    id: int
    webhook_id: str
    payload: dict[str, Any]
    attempt_count: int
    url: str
    secret: str


async def take_next(db: Database, settings: Settings, call_id: int) -> DueCallback | None:
    """The call's oldest pending callback, if it is due and nobody else holds it."""
    now = datetime.now(UTC)
    oldest = (
        select(CALLBACKS.c.id, CALLBACKS.c.next_attempt_at)
        .where(CALLBACKS.c.call_id == call_id, CALLBACKS.c.status == PENDING)
        .order_by(CALLBACKS.c.id)
        .limit(1)
    )
    async with db.writing() as connection:
        found = (await connection.execute(oldest)).first()
        if found is None or found.next_attempt_at > now:
            return None
        lease = now + timedelta(seconds=settings.webhook_timeout_seconds * 2)
        taken = await connection.execute(
            update(CALLBACKS)
            .where(CALLBACKS.c.id == found.id, CALLBACKS.c.next_attempt_at == found.next_attempt_at)
            .values(next_attempt_at=lease, updated_at=now)
            .returning(
                CALLBACKS.c.id,
                CALLBACKS.c.webhook_id,
                CALLBACKS.c.payload,
                CALLBACKS.c.attempt_count,
                CALLBACKS.c.tenant_id,
            )
        )
        row = taken.first()
        if row is None:
            return None
        url = (await connection.execute(select(CALLS.c.webhook_url).where(CALLS.c.id == call_id))).scalar()
        secret = await signing_secret(connection, row.tenant_id)
    return DueCallback(row.id, row.webhook_id, row.payload, row.attempt_count, str(url or ""), secret)


async def delivered(db: Database, callback: DueCallback, status_code: int) -> None:
    now = datetime.now(UTC)
    async with db.writing() as connection:
        await connection.execute(
            update(CALLBACKS)
            .where(CALLBACKS.c.id == callback.id)
            .values(
                status=DELIVERED,
                attempt_count=callback.attempt_count + 1,
                last_status_code=status_code,
                last_error=None,
                updated_at=now,
            )
        )


async def attempt_failed(
    db: Database, settings: Settings, callback: DueCallback, *, status_code: int | None, error: str
) -> float | None:
    """Schedules the next attempt; its delay in seconds, or None once the schedule ran out (the
    callback is `failed` then, and the call's next callbacks go on)."""
    now = datetime.now(UTC)
    attempts = callback.attempt_count + 1
    delays = settings.webhook_retry_delays
    delay = delays[attempts] if attempts < len(delays) else None
    values: dict[str, Any] = {"attempt_count": attempts, "last_status_code": status_code,
                              "last_error": error[:500], "updated_at": now}  # fmt: skip
    if delay is None:
        values |= {"status": FAILED, "next_attempt_at": now}
    else:
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    async with db.writing() as connection:
        await connection.execute(update(CALLBACKS).where(CALLBACKS.c.id == callback.id).values(values))
    return delay


async def calls_with_due_callbacks(db: Database, limit: int = 500) -> list[int]:
    """For the sweeper: calls whose oldest pending callback is overdue (its enqueue was lost)."""
    query = (
        select(CALLBACKS.c.call_id)
        .where(CALLBACKS.c.status == PENDING, CALLBACKS.c.next_attempt_at < datetime.now(UTC))
        .distinct()
        .limit(limit)
    )
    async with db.reading() as connection:
        return [int(call_id) for call_id in (await connection.execute(query)).scalars()]
