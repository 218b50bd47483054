"""An endpoint's health after each attempt: a success clears its failure clock; `410 Gone`, or
failing every attempt for `webhook_disable_after_seconds`, disables it and emits `webhook.disabled`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settings import Settings
from resolvers.webhook_events import ENABLED, emit_event
from resolvers.webhook_records import DELIVERIES, ENDPOINTS

if TYPE_CHECKING:
    from resolvers.webhook_attempts import Claimed, Outcome


async def note_outcome(
    connection: AsyncConnection, claimed: Claimed, outcome: Outcome, now: datetime
) -> datetime | None:
    """The first statement of recording an attempt, so that every transaction touching an endpoint
    and its deliveries locks the endpoint first (deleting and disabling do too): no deadlocks.
    Returns since when the endpoint fails (None after a success; a success locks nothing then)."""
    endpoint = ENDPOINTS.c
    if outcome.ok:
        clear = update(ENDPOINTS).where(
            endpoint.id == claimed.endpoint_id, endpoint.failing_since.is_not(None)
        )
        await connection.execute(clear.values(failing_since=None))
        return None
    statement = (
        update(ENDPOINTS).where(endpoint.id == claimed.endpoint_id)
        .values(failing_since=func.coalesce(endpoint.failing_since, now)).returning(endpoint.failing_since)
    )  # fmt: skip
    failing_since: datetime | None = (await connection.execute(statement)).scalar()
    return failing_since


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
