"""A delivery's attempts: claim it (a lease, by conditional UPDATE), then record what came back and
decide what follows: done, the next attempt on the retry schedule, or giving up. `410 Gone`
disables the endpoint at once; failing every attempt for `webhook_disable_after_seconds` too.

Both steps work on many deliveries at once (one claim statement for a batch of ids, one
transaction recording a batch of outcomes), so a delivery costs a share of a few round trips.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, tuple_, update

from gateway.db import Database
from gateway.settings import Settings
from resolvers.webhook_events import ENABLED
from resolvers.webhook_health import disable_if_due, give_up, note_outcomes
from resolvers.webhook_records import ATTEMPTS, DELIVERIES, ENDPOINTS

JITTER = 0.1  # each retry delay is moved by up to 10% either way
EARLY = timedelta(seconds=1)  # a delayed queue message may run this much before its time
SIGNING_COLUMNS = (
    ENDPOINTS.c.id, ENDPOINTS.c.url, ENDPOINTS.c.status, ENDPOINTS.c.secret, ENDPOINTS.c.previous_secret,
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
    claimed = await claim_many(db, settings, [delivery_id])
    return claimed[0] if claimed else None


async def claim_many(db: Database, settings: Settings, delivery_ids: Sequence[int]) -> list[Claimed]:
    """Those of the deliveries that are due and held by nobody, leased in one statement; the others
    (duplicates, finished, not due, another worker's) are left alone."""
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    statement = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id.in_(sorted(set(delivery_ids))), DELIVERIES.c.status == "pending",
            DELIVERIES.c.next_attempt_at <= now + EARLY,
            (DELIVERIES.c.lease_expires_at.is_(None)) | (DELIVERIES.c.lease_expires_at < now),
        )
        .values(lease_expires_at=lease, updated_at=now)
        .returning(DELIVERIES.c.id, DELIVERIES.c.tenant_id, DELIVERIES.c.endpoint_id, DELIVERIES.c.webhook_id,
                   DELIVERIES.c.payload, DELIVERIES.c.attempt_count)
    )  # fmt: skip
    async with db.writing() as connection:
        rows = sorted((await connection.execute(statement)).all(), key=lambda row: row.id)
        if not rows:
            return []
        query = select(*SIGNING_COLUMNS).where(ENDPOINTS.c.id.in_({row.endpoint_id for row in rows}))
        endpoints = {endpoint.id: endpoint for endpoint in await connection.execute(query)}
        disabled = [row.id for row in rows if endpoints[row.endpoint_id].status != ENABLED]
        await give_up(connection, disabled, now, "the endpoint is disabled")
    claimed = []
    for row in rows:
        endpoint = endpoints[row.endpoint_id]
        if endpoint.status != ENABLED:
            continue
        signing = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_secret_expires_at > now:
            signing.append(endpoint.previous_secret)
        claimed.append(Claimed(
            row.id, row.tenant_id, row.endpoint_id, row.webhook_id, row.payload, row.attempt_count, lease,
            endpoint.url, signing,
        ))  # fmt: skip
    return claimed


async def record(db: Database, settings: Settings, claimed: Claimed, outcome: Outcome) -> float | None:
    """Stores the attempt and moves the delivery on; returns the seconds until its next attempt, if any."""
    return (await record_many(db, settings, [(claimed, outcome)]))[0]


async def record_many(
    db: Database, settings: Settings, results: Sequence[tuple[Claimed, Outcome]]
) -> list[float | None]:
    """Stores each attempt and moves each delivery on, in one transaction; for each (in order) the
    seconds until its next attempt, or None (done, given up, or no longer ours)."""
    now = datetime.now(UTC)
    delays: list[float | None] = [None] * len(results)
    async with db.writing() as connection:
        # The endpoints first (see note_outcomes), then the deliveries.
        failing_since = await note_outcomes(connection, results, now)
        ids = [claimed.delivery_id for claimed, _ in results]
        query = select(DELIVERIES.c.id).where(DELIVERIES.c.id.in_(set(ids)))
        existing = set((await connection.execute(query)).scalars())  # an endpoint deleted meanwhile
        attempts = [
            {"delivery_id": claimed.delivery_id, "started_at": outcome.started_at,
             "duration_ms": outcome.duration_ms, "status_code": outcome.status_code,
             "error": outcome.error and outcome.error[:500], "response_snippet": outcome.response}
            for claimed, outcome in results
            if claimed.delivery_id in existing
        ]  # fmt: skip
        if attempts:
            await connection.execute(insert(ATTEMPTS), attempts)
        succeeded = [
            (claimed, outcome)
            for claimed, outcome in results
            if outcome.ok and claimed.delivery_id in existing
        ]
        if succeeded:
            await _succeeded(connection, [claimed for claimed, _ in succeeded], now)
        for index, (claimed, outcome) in enumerate(results):
            if outcome.ok or claimed.delivery_id not in existing:
                continue
            moved, delay = await _failed(connection, settings, claimed, outcome, now)
            if moved:
                delays[index] = delay
                since = failing_since.get(claimed.endpoint_id)
                await disable_if_due(connection, settings, claimed, outcome, failing_since=since, now=now)
    return delays


async def _succeeded(connection: Any, claimed: list[Claimed], now: datetime) -> None:
    """Every delivery still under the lease it was claimed with becomes `succeeded`, in one statement
    (a lease that ran out meanwhile belongs to whoever took the delivery over)."""
    ours = tuple_(DELIVERIES.c.id, DELIVERIES.c.lease_expires_at).in_(
        [(item.delivery_id, item.lease_until) for item in claimed]
    )
    await connection.execute(
        update(DELIVERIES).where(ours).values(
            status="succeeded", attempt_count=DELIVERIES.c.attempt_count + 1, next_attempt_at=None,
            lease_expires_at=None, last_error=None, updated_at=now,
        )
    )  # fmt: skip


async def _failed(
    connection: Any, settings: Settings, claimed: Claimed, outcome: Outcome, now: datetime
) -> tuple[bool, float | None]:
    """The delivery's next step after a failed attempt: whether it was still ours, and the delay."""
    attempts = claimed.attempt_count + 1
    delays = settings.webhook_retry_delays
    delay: float | None = None
    error = (outcome.error or f"HTTP {outcome.status_code}")[:500]
    if outcome.status_code == 410:
        status = "failed"
    elif attempts < len(delays):
        status, delay = "pending", delays[attempts] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    else:
        status = "exhausted"
    ours = and_(DELIVERIES.c.id == claimed.delivery_id, DELIVERIES.c.lease_expires_at == claimed.lease_until)
    next_at = None if delay is None else now + timedelta(seconds=delay)
    moved = await connection.execute(
        update(DELIVERIES).where(ours).values(
            status=status, attempt_count=attempts, next_attempt_at=next_at, lease_expires_at=None,
            last_error=error, updated_at=now,
        )
    )  # fmt: skip
    return bool(moved.rowcount), delay
