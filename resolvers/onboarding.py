"""Integration discovery: the tenant's integrations, defaults, templates and ready-to-run payloads."""

from __future__ import annotations

from typing import Any

from resolvers.context import Context
from resolvers.integrations import IntegrationRecord, tenant_integrations
from resolvers.templates import TemplateRecord, list_templates

SAMPLE_ADDRESS = {"sms": "+40740111222", "whatsapp": "+40740111222", "email": "client@example.com"}


async def onboarding(ctx: Context) -> dict[str, Any]:
    principal = ctx.require("read")
    async with ctx.db.reading() as connection:
        integrations = await tenant_integrations(connection, principal.tenant_id)
    templates = await list_templates(ctx, channel=None)
    default = next((item for item in integrations if item.is_default), None)
    return {
        "tenant_id": principal.tenant_id,
        "scopes": sorted(principal.scopes),
        "default_integration_id": default.id if default else None,
        "integrations": [
            {
                "id": item.id,
                "name": item.name,
                "is_default": item.is_default,
                "channels": sorted(item.channels),
                "providers": {
                    channel: config.get("provider") for channel, config in item.public_channels().items()
                },
                "default_senders": {
                    channel: config.get("sender") for channel, config in item.public_channels().items()
                },
            }
            for item in integrations
        ],
        "platform_sms_routing": {"available": True, "provider": ctx.settings.platform_sms_provider},
        "templates": [
            {"key": item.key, "channel": item.channel, "variables": item.variables} for item in templates
        ],
        "examples": _examples(default or (integrations[0] if integrations else None), templates),
    }


def _examples(integration: IntegrationRecord | None, templates: list[TemplateRecord]) -> dict[str, Any]:
    """One payload per channel for POST /integrations/messages/send, with this tenant's own ids."""
    examples: dict[str, Any] = {}
    for channel, address in SAMPLE_ADDRESS.items():
        payload: dict[str, Any] = {"channel": channel, "to": address}
        if integration is not None and channel in integration.channels:
            payload["integration_id"] = integration.id
        elif channel == "sms":
            payload["sms_routing"] = "platform"
        else:
            continue
        template = next((item for item in templates if item.channel == channel), None)
        if template is not None:
            payload["template_key"] = template.key
            payload["variables"] = {name: f"<{name}>" for name in template.variables}
        elif channel == "email":
            payload |= {
                "subject": "Hello {{ name }}",
                "body": "<h1>Hello {{ name }}</h1>",
                "variables": {"name": "Maria"},
            }
        else:
            payload |= {"body": "Hello {{ name }}", "variables": {"name": "Andrei"}}
        examples[channel] = payload
    return examples
