"""An endpoint's deliveries: list them with their attempts, send a test event, redeliver one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from resolvers.context import Context
from resolvers.errors import Conflict, ValidationFailed
from resolvers.pagination import Page, page_request
from resolvers.webhook_events import delivery_row, enqueue_deliveries, event_body
from resolvers.webhook_records import (
    DELIVERIES,
    DELIVERY_COLUMNS,
    DeliveryRecord,
    EndpointRecord,
    deliveries_with_attempts,
    load_delivery,
    load_endpoint,
)

STATUSES = ("pending", "succeeded", "failed", "exhausted")


async def list_deliveries(
    ctx: Context, *, endpoint_id: int, page: int | None, per_page: int | None, status: str | None
) -> Page[DeliveryRecord]:
    """Newest first, each with every attempt (status code, duration, the first 1 KB of the answer)."""
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    filters = [DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.tenant_id == tenant_id]
    if status is not None:
        if status not in STATUSES:
            message = "one of " + ", ".join(STATUSES)
            raise ValidationFailed(f"status: {message}", fields={"status": [message]})
        filters.append(DELIVERIES.c.status == status)
    query = select(*DELIVERY_COLUMNS).where(*filters).order_by(DELIVERIES.c.id.desc())
    async with ctx.db.reading() as connection:
        await load_endpoint(connection, tenant_id, endpoint_id)
        total = (
            await connection.execute(select(func.count()).select_from(DELIVERIES).where(*filters))
        ).scalar_one()
        rows = list(await connection.execute(query.offset(request.offset).limit(request.per_page)))
        items = await deliveries_with_attempts(connection, rows)
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)


async def send_test_event(ctx: Context, *, endpoint_id: int) -> DeliveryRecord:
    """A `webhook.test` delivery to this endpoint now, signed and retried like any other."""
    tenant_id = ctx.require("write").tenant_id
    now = datetime.now(UTC)
    async with ctx.db.writing() as connection:
        endpoint = _enabled(await load_endpoint(connection, tenant_id, endpoint_id))
        data = {"endpoint_id": endpoint.id, "message": "This is a test event from WeConn."}
        row = delivery_row(tenant_id, endpoint.id, event_body("webhook.test", now, data), now, 0)
        delivery_id = (
            await connection.execute(insert(DELIVERIES).values(row).returning(DELIVERIES.c.id))
        ).scalar_one()
        record = await load_delivery(connection, tenant_id, endpoint_id, delivery_id)
    await enqueue_deliveries(ctx.task_queue(), [delivery_id])
    return record


async def redeliver(ctx: Context, *, endpoint_id: int, delivery_id: int) -> DeliveryRecord:
    """A new delivery of the same event (same `webhook-id` and body, so receivers can deduplicate)."""
    tenant_id = ctx.require("write").tenant_id
    now = datetime.now(UTC)
    async with ctx.db.writing() as connection:
        _enabled(await load_endpoint(connection, tenant_id, endpoint_id))
        original = await load_delivery(connection, tenant_id, endpoint_id, delivery_id)
        row = delivery_row(tenant_id, endpoint_id, original.payload, now, 0) | {
            "webhook_id": original.webhook_id
        }
        new_id = (
            await connection.execute(insert(DELIVERIES).values(row).returning(DELIVERIES.c.id))
        ).scalar_one()
        record = await load_delivery(connection, tenant_id, endpoint_id, new_id)
    await enqueue_deliveries(ctx.task_queue(), [new_id])
    return record


def _enabled(endpoint: EndpointRecord) -> EndpointRecord:
    if endpoint.status != "enabled":
        raise Conflict(f"webhook {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first")
    return endpoint
