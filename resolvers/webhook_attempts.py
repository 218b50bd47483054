"""A delivery's attempts: claim it (a lease, by conditional UPDATE), then record what came back and
decide what follows: done, the next attempt on the retry schedule, or giving up. `410 Gone`
disables the endpoint at once; failing every attempt for `webhook_disable_after_seconds` too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update

from gateway.db import Database
from gateway.settings import Settings
from resolvers.webhook_events import ENABLED
from resolvers.webhook_health import disable_if_due, give_up, note_outcome
from resolvers.webhook_records import ATTEMPTS, DELIVERIES, ENDPOINTS

JITTER = 0.1  # each retry delay is moved by up to 10% either way
EARLY = timedelta(seconds=1)  # a delayed queue message may run this much before its time
SIGNING_COLUMNS = (
    ENDPOINTS.c.url, ENDPOINTS.c.status, ENDPOINTS.c.secret, ENDPOINTS.c.previous_secret,
    ENDPOINTS.c.previous_secret_expires_at,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    tenant_id: int
    endpoint_id: int
    webhook_id: str
    payload: dict[str, Any]
    attempt_count: int
    lease_until: datetime
    url: str
    signing_secrets: list[str]  # the current secret, then a rotated-out one still valid


@dataclass(frozen=True, slots=True)
class Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None = None
    response: str | None = None  # the first 1 KB of the body

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


async def claim(db: Database, settings: Settings, delivery_id: int) -> Claimed | None:
    """The delivery, if it is due and nobody holds it; None for duplicates and finished ones."""
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    statement = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending",
            DELIVERIES.c.next_attempt_at <= now + EARLY,
            (DELIVERIES.c.lease_expires_at.is_(None)) | (DELIVERIES.c.lease_expires_at < now),
        )
        .values(lease_expires_at=lease, updated_at=now)
        .returning(DELIVERIES.c.tenant_id, DELIVERIES.c.endpoint_id, DELIVERIES.c.webhook_id,
                   DELIVERIES.c.payload, DELIVERIES.c.attempt_count)
    )  # fmt: skip
    async with db.writing() as connection:
        row = (await connection.execute(statement)).first()
        if row is None:
            return None
        query = select(*SIGNING_COLUMNS).where(ENDPOINTS.c.id == row.endpoint_id)
        endpoint = (await connection.execute(query)).one()
        if endpoint.status != ENABLED:
            await give_up(connection, [delivery_id], now, "the endpoint is disabled")
            return None
    signing = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at > now:
        signing.append(endpoint.previous_secret)
    return Claimed(
        delivery_id, row.tenant_id, row.endpoint_id, row.webhook_id, row.payload, row.attempt_count, lease,
        endpoint.url, signing,
    )  # fmt: skip


async def record(db: Database, settings: Settings, claimed: Claimed, outcome: Outcome) -> float | None:
    """Stores the attempt and moves the delivery on; returns the seconds until its next attempt, if any."""
    now = datetime.now(UTC)
    attempts = claimed.attempt_count + 1
    delays = settings.webhook_retry_delays
    delay: float | None = None
    error = None if outcome.ok else (outcome.error or f"HTTP {outcome.status_code}")[:500]
    if outcome.ok:
        status = "succeeded"
    elif outcome.status_code == 410:
        status = "failed"
    elif attempts < len(delays):
        status, delay = "pending", delays[attempts] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    else:
        status = "exhausted"
    async with db.writing() as connection:
        failing_since = await note_outcome(connection, claimed, outcome, now)  # the endpoint first
        if (
            await connection.execute(select(DELIVERIES.c.id).where(DELIVERIES.c.id == claimed.delivery_id))
        ).first() is None:
            return None  # its endpoint was deleted meanwhile
        await connection.execute(insert(ATTEMPTS).values(
            delivery_id=claimed.delivery_id, started_at=outcome.started_at, duration_ms=outcome.duration_ms,
            status_code=outcome.status_code, error=outcome.error and outcome.error[:500],
            response_snippet=outcome.response,
        ))  # fmt: skip
        ours = and_(
            DELIVERIES.c.id == claimed.delivery_id, DELIVERIES.c.lease_expires_at == claimed.lease_until
        )
        next_at = None if delay is None else now + timedelta(seconds=delay)
        moved = await connection.execute(
            update(DELIVERIES).where(ours).values(
                status=status, attempt_count=attempts, next_attempt_at=next_at, lease_expires_at=None,
                last_error=error, updated_at=now,
            )
        )  # fmt: skip
        if not moved.rowcount:
            return None  # the lease ran out and another worker took the delivery over
        await disable_if_due(connection, settings, claimed, outcome, failing_since=failing_since, now=now)
    return delay
