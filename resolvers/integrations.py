"""Integrations (a named provider connection per channel) and the routing of a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settings import Settings
from gateway.tables import Integration
from gateway.tables.columns import MAX_ID, table_of
from resolvers.context import Context
from resolvers.errors import NotFound, ValidationFailed, field_error

INTEGRATIONS = table_of(Integration)
COLUMNS = (
    INTEGRATIONS.c.id,
    INTEGRATIONS.c.name,
    INTEGRATIONS.c.channels,
    INTEGRATIONS.c.is_default,
    INTEGRATIONS.c.created_at,
)
PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class IntegrationRecord:
    id: int
    name: str
    channels: dict[str, Any]
    is_default: bool
    created_at: datetime

    def public_channels(self) -> dict[str, dict[str, Any]]:
        """Channel configs without credentials: provider, sender and display options only."""
        shown = ("provider", "sender", "sender_name", "reply_to")
        return {
            channel: {k: v for k, v in config.items() if k in shown}
            for channel, config in self.channels.items()
        }


@dataclass(frozen=True, slots=True)
class Route:
    """Where a send goes: an integration's channel config, or the platform's own SMS route."""

    kind: str  # "integration" or "platform"
    integration_id: int | None
    provider: str
    sender: str | None
    config: dict[str, Any]


async def list_integrations(ctx: Context) -> list[IntegrationRecord]:
    tenant_id = ctx.require("read").tenant_id
    async with ctx.db.reading() as connection:
        return await tenant_integrations(connection, tenant_id)


async def tenant_integrations(connection: AsyncConnection, tenant_id: int) -> list[IntegrationRecord]:
    query = select(*COLUMNS).where(INTEGRATIONS.c.tenant_id == tenant_id).order_by(INTEGRATIONS.c.id)
    return [IntegrationRecord(*row) for row in await connection.execute(query)]


async def resolve_route(
    connection: AsyncConnection,
    settings: Settings,
    *,
    tenant_id: int,
    channel: str,
    integration_id: int | None,
    sms_routing: str | None,
) -> Route:
    """`sms_routing: "platform"` routes SMS through the platform; else the named or default integration."""
    if channel == "sms" and sms_routing == PLATFORM:
        config: dict[str, Any] = {
            "provider": settings.platform_sms_provider,
            "sender": settings.platform_sms_sender,
        }
        return Route(PLATFORM, None, settings.platform_sms_provider, settings.platform_sms_sender, config)
    if integration_id is not None and not 0 < integration_id <= MAX_ID:
        raise NotFound(f"integration {integration_id} not found")
    query = select(*COLUMNS).where(INTEGRATIONS.c.tenant_id == tenant_id)
    if integration_id is not None:
        query = query.where(INTEGRATIONS.c.id == integration_id)
    else:
        query = query.where(INTEGRATIONS.c.is_default.is_(True))
    row = (await connection.execute(query.limit(1))).first()
    if row is None:
        if integration_id is not None:
            raise NotFound(f"integration {integration_id} not found")
        raise ValidationFailed(
            "this tenant has no default integration; pass integration_id",
            fields={"integration_id": ["required: no default integration"]},
        )
    integration = IntegrationRecord(*row)
    channel_config = integration.channels.get(channel)
    if not isinstance(channel_config, dict) or "provider" not in channel_config:
        served = ", ".join(sorted(integration.channels)) or "none"
        raise field_error(
            "channel", f"integration {integration.id} does not serve {channel} (it serves: {served})"
        )
    provider, sender = str(channel_config["provider"]), channel_config.get("sender")
    return Route("integration", integration.id, provider, sender, channel_config)
