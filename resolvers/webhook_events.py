"""Emitting webhook events: the outbox row written in the caller's transaction, and delivery rows.

Message status events need nothing here: the dispatcher reads them from `message_events`. Other
events (contacts, campaigns, calls, `webhook.disabled`) are one `emit_event` call inside the
transaction of the change, so an event exists exactly when its change was committed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.queue import TaskQueue
from resolvers import campaign_records
from resolvers.webhook_records import ENDPOINTS, OUTBOX
from resolvers.webhook_signing import new_webhook_id

DELIVER_ACTOR = "deliver_webhook"
DELIVERY_BATCH = 10  # deliveries per actor call
ENABLED = "enabled"
CAMPAIGN_EVENTS = {"scheduled": "campaign.scheduled", "sending": "campaign.started"}
logger = logging.getLogger("weconn.webhooks")


def jsonable(data: Any) -> Any:
    """Dataclasses, datetimes (ISO 8601 with `Z`) and the rest, as plain JSON values."""
    return orjson.loads(orjson.dumps(data, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS))


def event_body(event_type: str, occurred_at: datetime, data: Any) -> dict[str, Any]:
    """The body every delivery sends: `{"type", "timestamp", "data"}`."""
    return {"type": event_type, "timestamp": jsonable(occurred_at), "data": jsonable(data)}


def delivery_row(
    tenant_id: int, endpoint_id: int, body: dict[str, Any], now: datetime, first_delay: float
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id, "endpoint_id": endpoint_id, "event_type": body["type"],
        "webhook_id": new_webhook_id(), "payload": body, "status": "pending", "attempt_count": 0,
        "next_attempt_at": now + timedelta(seconds=first_delay), "created_at": now, "updated_at": now,
    }  # fmt: skip


# Built once (a kept statement keeps its cache key): any enabled endpoint, or one of a tenant's.
_ANY_ENABLED = select(ENDPOINTS.c.id).where(ENDPOINTS.c.status == ENABLED).limit(1)
_TENANT_ENABLED = _ANY_ENABLED.where(ENDPOINTS.c.tenant_id == bindparam("tenant_id"))
_INSERT_EVENTS = insert(OUTBOX)


def endpoint_enabled(connection: Connection, tenant_id: int | None = None) -> bool:
    """Whether the tenant (or, without one, any tenant) has an enabled endpoint to deliver to."""
    if tenant_id is None:
        return connection.execute(_ANY_ENABLED).first() is not None
    return connection.execute(_TENANT_ENABLED, {"tenant_id": tenant_id}).first() is not None


async def enabled_endpoint_exists(connection: AsyncConnection, tenant_id: int | None = None) -> bool:
    return await connection.run_sync(endpoint_enabled, tenant_id)


async def emit_event(
    connection: AsyncConnection, tenant_id: int, event_type: str, data: Any, *, channel: str | None = None
) -> None:
    """Writes the event for the dispatcher, unless the tenant has no enabled endpoint to receive it."""
    await emit_events(connection, tenant_id, [(event_type, data)], channel=channel)


async def emit_events(
    connection: AsyncConnection, tenant_id: int, events: list[tuple[str, Any]], *, channel: str | None = None
) -> None:
    """`emit_event` for many (event type, data) pairs: one check, one multi-row INSERT."""
    if events:
        await connection.run_sync(write_events, tenant_id, events, channel=channel)


def write_events(
    connection: Connection, tenant_id: int, events: list[tuple[str, Any]], *, channel: str | None = None
) -> None:
    """`emit_events` on a synchronous connection (`Database.run_write`)."""
    if not events or not endpoint_enabled(connection, tenant_id):
        return
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": tenant_id,
            "type": event_type,
            "channel": channel,
            "data": jsonable(data),
            "occurred_at": now,
        }
        for event_type, data in events
    ]
    connection.execute(_INSERT_EVENTS, rows)


async def emit_campaign_event(
    connection: AsyncConnection, tenant_id: int, campaign_id: int, event_type: str | None = None
) -> None:
    """`campaign.<event>`: the campaign as the API shows it; the type follows its status unless given."""
    record = await campaign_records.load(connection, tenant_id, campaign_id)
    kind = event_type or CAMPAIGN_EVENTS.get(str(record.status))
    if kind is not None:
        await emit_event(connection, tenant_id, kind, record.public())


async def enqueue_deliveries(
    queue: TaskQueue, delivery_ids: list[int], *, delay_ms: int | None = None
) -> None:
    """After the commit, `DELIVERY_BATCH` deliveries per actor call (claimed in one statement); a lost
    enqueue only delays (the dispatcher re-enqueues overdue deliveries)."""
    if not delivery_ids:
        return
    calls = [
        tuple(delivery_ids[start : start + DELIVERY_BATCH])
        for start in range(0, len(delivery_ids), DELIVERY_BATCH)
    ]
    try:
        await queue.enqueue(DELIVER_ACTOR, calls, delay_ms=delay_ms)
    except Exception:  # any broker failure: the dispatcher's recovery pass picks them up
        logger.exception("enqueue of %d webhook deliveries failed; they will be retried", len(delivery_ids))
