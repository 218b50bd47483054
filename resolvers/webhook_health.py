"""An endpoint's health after each attempt: a success clears its failure clock; `410 Gone`, or
failing every attempt for `webhook_disable_after_seconds`, disables it and emits `webhook.disabled`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settings import Settings
from resolvers.webhook_events import ENABLED, emit_event
from resolvers.webhook_records import DELIVERIES, ENDPOINTS

if TYPE_CHECKING:
    from resolvers.webhook_attempts import Claimed, Outcome


async def note_outcomes(
    connection: AsyncConnection, results: Sequence[tuple[Claimed, Outcome]], now: datetime
) -> dict[int, datetime]:
    """The first statements of recording attempts, so that every transaction touching an endpoint
    and its deliveries locks the endpoint first (deleting and disabling do too), and several
    endpoints in id order: no deadlocks. An endpoint whose last attempt here succeeded has its
    failure clock cleared (locking nothing when it was clear); one whose last attempt failed fails
    since its earlier failures, or since now when an attempt here succeeded before. Returns since
    when each failing endpoint fails."""
    endpoint = ENDPOINTS.c
    by_endpoint: dict[int, list[Outcome]] = {}
    for claimed, outcome in results:
        by_endpoint.setdefault(claimed.endpoint_id, []).append(outcome)
    failing: dict[int, datetime] = {}
    for endpoint_id in sorted(by_endpoint):
        outcomes = sorted(by_endpoint[endpoint_id], key=lambda outcome: outcome.started_at)
        if outcomes[-1].ok:
            clear = update(ENDPOINTS).where(endpoint.id == endpoint_id, endpoint.failing_since.is_not(None))
            await connection.execute(clear.values(failing_since=None))
            continue
        since = now if any(outcome.ok for outcome in outcomes) else func.coalesce(endpoint.failing_since, now)
        statement = (
            update(ENDPOINTS).where(endpoint.id == endpoint_id)
            .values(failing_since=since).returning(endpoint.failing_since)
        )  # fmt: skip
        found: datetime | None = (await connection.execute(statement)).scalar()
        if found is not None:
            failing[endpoint_id] = found
    return failing


async def disable_if_due(
    connection: AsyncConnection, settings: Settings, claimed: Claimed, outcome: Outcome, *,
    failing_since: datetime | None, now: datetime,
) -> None:  # fmt: skip
    if outcome.status_code == 410:
        await disable(connection, claimed, now, "the endpoint answered 410 Gone")
    elif failing_since is not None and failing_since <= now - timedelta(
        seconds=settings.webhook_disable_after_seconds
    ):
        await disable(connection, claimed, now, f"every attempt failed since {failing_since.isoformat()}")


async def disable(connection: AsyncConnection, claimed: Claimed, now: datetime, reason: str) -> None:
    """Disables the endpoint, gives up its pending deliveries, and emits `webhook.disabled`."""
    statement = (
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == claimed.endpoint_id, ENDPOINTS.c.status == ENABLED)
        .values(status="disabled", disabled_reason=reason[:200], disabled_at=now, updated_at=now)
    )
    if not (await connection.execute(statement)).rowcount:
        return
    pending = select(DELIVERIES.c.id).where(
        DELIVERIES.c.endpoint_id == claimed.endpoint_id, DELIVERIES.c.status == "pending"
    )
    await give_up(
        connection, list((await connection.execute(pending)).scalars()), now, "the endpoint was disabled"
    )
    data = {"endpoint_id": claimed.endpoint_id, "url": claimed.url, "reason": reason, "disabled_at": now}
    await emit_event(connection, claimed.tenant_id, "webhook.disabled", data)


async def give_up(connection: AsyncConnection, delivery_ids: list[int], now: datetime, reason: str) -> None:
    if delivery_ids:
        await connection.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(delivery_ids), DELIVERIES.c.status == "pending")
            .values(
                status="failed",
                next_attempt_at=None,
                lease_expires_at=None,
                last_error=reason,
                updated_at=now,
            )
        )
