"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from gateway.tables.calls import Call, CallCallback, CallEvent, CallSigningSecret
from gateway.tables.campaigns import Campaign, CampaignCounter
from gateway.tables.contacts import Contact, ContactTag
from gateway.tables.integrations import Integration, Template
from gateway.tables.messaging import IdempotencyKey, Message, MessageEvent, OptOut
from gateway.tables.tenancy import ApiKey, Membership, RefreshToken, Tenant, User
from gateway.tables.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDispatchCursor,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "ApiKey",
    "Call",
    "CallCallback",
    "CallEvent",
    "CallSigningSecret",
    "Campaign",
    "CampaignCounter",
    "Contact",
    "ContactTag",
    "IdempotencyKey",
    "Integration",
    "Membership",
    "Message",
    "MessageEvent",
    "OptOut",
    "RefreshToken",
    "Template",
    "Tenant",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDispatchCursor",
    "WebhookEndpoint",
    "WebhookEvent",
]
