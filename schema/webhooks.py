"""GraphQL twins of the webhook API: the same resolvers as REST, so the same rules and error codes."""

from __future__ import annotations

import strawberry

from resolvers import webhook_deliveries, webhooks
from resolvers.validation import parse_input
from resolvers.webhook_fields import WebhookFields
from schema.context import GraphQLInfo
from schema.webhook_types import (
    DeletedWebhook,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookEndpoint,
    WebhookEndpointPage,
    WebhookEventKind,
    WebhookEventsCatalog,
    WebhookInput,
    WebhookProfile,
)


async def resolve_webhooks(
    info: GraphQLInfo, page: int | None = None, per_page: int | None = None
) -> WebhookEndpointPage:
    found = await webhooks.list_endpoints(info.context.domain, page=page, per_page=per_page)
    return WebhookEndpointPage(
        items=[WebhookEndpoint.from_record(record) for record in found.items], total_count=found.total,
        page=found.page, per_page=found.per_page, last_page=found.last_page,
    )  # fmt: skip


async def resolve_events_catalog(info: GraphQLInfo) -> WebhookEventsCatalog:
    """Every event name with a description and an example body, and the delivery profiles."""
    found = await webhooks.events_catalog(info.context.domain)
    return WebhookEventsCatalog(
        events=[WebhookEventKind(**kind) for kind in found["events"]],
        profiles=[WebhookProfile(**profile) for profile in found["profiles"]],
    )


async def resolve_deliveries(
    info: GraphQLInfo,
    webhook_id: int,
    page: int | None = None,
    per_page: int | None = None,
    status: str | None = None,
) -> WebhookDeliveryPage:
    found = await webhook_deliveries.list_deliveries(
        info.context.domain, endpoint_id=webhook_id, page=page, per_page=per_page, status=status
    )
    return WebhookDeliveryPage(
        items=[WebhookDelivery.from_record(record) for record in found.items], total_count=found.total,
        page=found.page, per_page=found.per_page, last_page=found.last_page,
    )  # fmt: skip


async def create_webhook(info: GraphQLInfo, input: WebhookInput) -> WebhookEndpoint:
    sent = {
        name: value
        for name, value in vars(input).items()
        if value is not strawberry.UNSET and value is not None
    }
    fields = parse_input(WebhookFields, sent)
    return WebhookEndpoint.from_record(await webhooks.create_endpoint(info.context.domain, fields=fields))


async def delete_webhook(info: GraphQLInfo, id: int) -> DeletedWebhook:
    return DeletedWebhook(
        id=await webhooks.delete_endpoint(info.context.domain, endpoint_id=id), deleted=True
    )


async def rotate_webhook_secret(info: GraphQLInfo, id: int) -> WebhookEndpoint:
    return WebhookEndpoint.from_record(await webhooks.rotate_secret(info.context.domain, endpoint_id=id))


async def enable_webhook(info: GraphQLInfo, id: int) -> WebhookEndpoint:
    return WebhookEndpoint.from_record(await webhooks.enable_endpoint(info.context.domain, endpoint_id=id))


async def send_webhook_test(info: GraphQLInfo, id: int) -> WebhookDelivery:
    record = await webhook_deliveries.send_test_event(info.context.domain, endpoint_id=id)
    return WebhookDelivery.from_record(record)


async def redeliver_webhook(info: GraphQLInfo, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    record = await webhook_deliveries.redeliver(
        info.context.domain, endpoint_id=webhook_id, delivery_id=delivery_id
    )
    return WebhookDelivery.from_record(record)
