"""Webhook endpoints, deliveries and attempts as the API shows them (never a secret but on creation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from gateway.tables.columns import MAX_ID, table_of
from resolvers.errors import NotFound

ENDPOINTS = table_of(WebhookEndpoint)
DELIVERIES = table_of(WebhookDelivery)
ATTEMPTS = table_of(WebhookAttempt)
OUTBOX = table_of(WebhookEvent)
ENDPOINT_COLUMNS = (
    ENDPOINTS.c.id, ENDPOINTS.c.url, ENDPOINTS.c.description, ENDPOINTS.c.delivery_profile,
    ENDPOINTS.c.events, ENDPOINTS.c.channel, ENDPOINTS.c.status, ENDPOINTS.c.disabled_reason,
    ENDPOINTS.c.disabled_at, ENDPOINTS.c.created_at, ENDPOINTS.c.updated_at,
)  # fmt: skip
DELIVERY_COLUMNS = (
    DELIVERIES.c.id, DELIVERIES.c.endpoint_id, DELIVERIES.c.webhook_id, DELIVERIES.c.event_type,
    DELIVERIES.c.status, DELIVERIES.c.attempt_count, DELIVERIES.c.next_attempt_at, DELIVERIES.c.last_error,
    DELIVERIES.c.payload, DELIVERIES.c.created_at, DELIVERIES.c.updated_at,
)  # fmt: skip
ATTEMPT_COLUMNS = (
    ATTEMPTS.c.id, ATTEMPTS.c.started_at, ATTEMPTS.c.duration_ms, ATTEMPTS.c.status_code,
    ATTEMPTS.c.error, ATTEMPTS.c.response_snippet,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: int
    url: str
    description: str
    delivery_profile: str | None
    events: list[str]
    channel: str | None
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only right after creation or rotation


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    id: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response: str | None  # the first 1 KB of the body


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    endpoint_id: int
    webhook_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    attempts: list[AttemptRecord] = field(default_factory=list)


async def load_endpoint(connection: AsyncConnection, tenant_id: int, endpoint_id: int) -> EndpointRecord:
    if not 0 < endpoint_id <= MAX_ID:
        raise NotFound(f"webhook {endpoint_id} not found")
    query = select(*ENDPOINT_COLUMNS).where(ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.tenant_id == tenant_id)
    row = (await connection.execute(query)).first()
    if row is None:
        raise NotFound(f"webhook {endpoint_id} not found")
    return EndpointRecord(*row)


async def deliveries_with_attempts(connection: AsyncConnection, rows: Sequence[Any]) -> list[DeliveryRecord]:
    """Delivery rows (DELIVERY_COLUMNS) with their attempts, oldest attempt first, in one more query."""
    ids = [row.id for row in rows]
    attempts: dict[int, list[AttemptRecord]] = {delivery_id: [] for delivery_id in ids}
    if ids:
        query = (
            select(ATTEMPTS.c.delivery_id, *ATTEMPT_COLUMNS)
            .where(ATTEMPTS.c.delivery_id.in_(ids))
            .order_by(ATTEMPTS.c.id)
        )
        for row in await connection.execute(query):
            attempts[row.delivery_id].append(AttemptRecord(*row[1:]))
    return [DeliveryRecord(**row._mapping, attempts=attempts[row.id]) for row in rows]


async def load_delivery(
    connection: AsyncConnection, tenant_id: int, endpoint_id: int, delivery_id: int
) -> DeliveryRecord:
    if not 0 < delivery_id <= MAX_ID:
        raise NotFound(f"delivery {delivery_id} not found")
    query = select(*DELIVERY_COLUMNS).where(
        DELIVERIES.c.id == delivery_id,
        DELIVERIES.c.endpoint_id == endpoint_id,
        DELIVERIES.c.tenant_id == tenant_id,
    )
    rows = list(await connection.execute(query))
    if not rows:
        raise NotFound(f"delivery {delivery_id} not found")
    return (await deliveries_with_attempts(connection, rows))[0]
