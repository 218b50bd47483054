"""GraphQL types and inputs of webhooks, shown from the same records as REST shows."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers.webhook_records import DeliveryRecord, EndpointRecord


@strawberry.type(
    description="A URL receiving signed events; `secret` is shown only on creation and rotation."
)
class WebhookEndpoint:
    id: int
    url: str
    description: str
    delivery_profile: str | None
    events: list[str]
    channel: str | None
    status: str = strawberry.field(description="`enabled` or `disabled`.")
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = strawberry.field(description="`whsec_…`, shown only when it was just made.")

    @classmethod
    def from_record(cls, record: EndpointRecord) -> WebhookEndpoint:
        return cls(**{field.name: getattr(record, field.name) for field in dataclasses.fields(record)})


@strawberry.type
class WebhookEndpointPage:
    items: list[WebhookEndpoint]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookAttempt:
    id: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response: str | None = strawberry.field(description="The first 1 KB of the response body.")


@strawberry.type(description="One event for one endpoint: the same webhook-id and body on every attempt.")
class WebhookDelivery:
    id: int
    endpoint_id: int
    webhook_id: str
    event_type: str
    status: str = strawberry.field(description="`pending`, `succeeded`, `failed` or `exhausted`.")
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    payload: JSON
    created_at: datetime
    updated_at: datetime
    attempts: list[WebhookAttempt]

    @classmethod
    def from_record(cls, record: DeliveryRecord) -> WebhookDelivery:
        shown: dict[str, Any] = {
            field.name: getattr(record, field.name) for field in dataclasses.fields(record)
        }
        shown["payload"] = cast(JSON, record.payload)
        shown["attempts"] = [WebhookAttempt(**dataclasses.asdict(attempt)) for attempt in record.attempts]
        return cls(**shown)


@strawberry.type
class WebhookDeliveryPage:
    items: list[WebhookDelivery]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.type
class WebhookEventKind:
    name: str
    description: str
    example: JSON = strawberry.field(description="A body as delivered: `{type, timestamp, data}`.")


@strawberry.type(description="A named set of events (and, for some, one channel) to subscribe to at once.")
class WebhookProfile:
    name: str
    description: str
    events: list[str]
    channel: str | None


@strawberry.type
class WebhookEventsCatalog:
    events: list[WebhookEventKind]
    profiles: list[WebhookProfile]


@strawberry.type
class DeletedWebhook:
    id: int
    deleted: bool


@strawberry.input(
    description="A URL, and a deliveryProfile or an explicit list of events (neither: every event)."
)
class WebhookInput:
    url: str
    delivery_profile: str | None = strawberry.UNSET
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
