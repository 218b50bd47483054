"""The providers a worker can send through, by the name a channel config's `provider` gives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from gateway.queue import TaskQueue
from gateway.settings import Settings
from workers.providers.base import Provider
from workers.providers.sandbox import SandboxProvider
from workers.providers.smtp import SmtpProvider
from workers.providers.twilio import TwilioProvider
from workers.providers.whatsapp_cloud import WhatsAppCloudProvider


@runtime_checkable
class Closable(Protocol):
    async def aclose(self) -> None:
        """Releases connections held between sends."""


def build_providers(settings: Settings, queue: TaskQueue) -> dict[str, Provider]:
    """One instance of each provider, for the event loop of the runtime that asks."""
    providers: list[Provider] = [
        SandboxProvider(
            queue,
            receipt_delay_ms=settings.sandbox_delivery_delay_ms,
            send_latency_ms=settings.sandbox_send_latency_ms,
        ),
        SmtpProvider(default_timeout=settings.provider_timeout_seconds),
        TwilioProvider(settings),
        WhatsAppCloudProvider(settings),
    ]
    return {provider.name: provider for provider in providers}


async def close_providers(providers: Mapping[str, object]) -> None:
    """Closes the connection pools of the providers that keep one."""
    for provider in providers.values():
        if isinstance(provider, Closable):
            await provider.aclose()
