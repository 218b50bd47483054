"""The send actors: a group of messages, or one message being retried, through its provider."""

from __future__ import annotations

import asyncio
import logging
import random

from gateway.db_retry import retrying
from resolvers.delivery import Outgoing
from resolvers.message_store import SEND_ACTOR, SEND_GROUP_ACTOR
from resolvers.status_writers import claim_many, sent_many
from workers.call_actors import register_call_actors
from workers.campaign_actors import register_campaign_actors
from workers.providers.base import ProviderError
from workers.receipt_actors import register_receipt_actors
from workers.runtime import RuntimeFactory, WorkerRuntime
from workers.webhook_actors import register_webhook_actors

logger = logging.getLogger("weconn.workers")


class SendDeferred(Exception):
    """Raised to have Dramatiq retry the send later, with backoff."""


def register_actors(runtimes: RuntimeFactory) -> None:
    settings = runtimes.settings

    async def send_message(message_id: int) -> None:
        runtime = runtimes.current()
        message = await runtime.delivery.claim(message_id)
        if message is None:
            return  # sent already, or another worker holds it
        await _send(runtime, message)

    async def send_messages(message_ids: list[int]) -> None:
        """A group: claimed together, sent concurrently, recorded together."""
        runtime = runtimes.current()
        claimed = await retrying(lambda: claim_many(runtime.delivery, message_ids), what="claim")
        outcomes = await asyncio.gather(
            *(_attempt(runtime, message) for message in claimed), return_exceptions=True
        )
        accepted: list[tuple[Outgoing, str]] = []
        for message, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, str):
                accepted.append((message, outcome))
            elif isinstance(outcome, BaseException):  # its lease runs out and the sweeper sends it again
                logger.error("send of message %d failed unexpectedly", message.id, exc_info=outcome)
        # The providers took these: their record must not be lost to a deadlock (a resend follows).
        await retrying(lambda: sent_many(runtime.delivery, accepted), what="record sends")

    runtimes.actor(send_messages, actor_name=SEND_GROUP_ACTOR, max_retries=0)

    runtimes.actor(
        send_message,
        actor_name="send_message",
        max_retries=settings.send_max_attempts,
        min_backoff=settings.send_retry_base_ms,
        max_backoff=settings.send_retry_base_ms * 2**settings.send_max_attempts,
        retry_when=lambda _retries, error: isinstance(error, SendDeferred),
    )

    register_receipt_actors(runtimes)
    register_call_actors(runtimes)
    register_campaign_actors(runtimes)
    register_webhook_actors(runtimes)


async def _attempt(runtime: WorkerRuntime, message: Outgoing) -> str | None:
    """One message of a group: its provider id once accepted; None when failed or put off
    (a transient refusal is retried on its own, later, as `send_message`)."""
    provider = runtime.providers.get(message.provider)
    if provider is None:
        await runtime.delivery.failed(
            message, code="unknown_provider", text=f"no provider '{message.provider}'"
        )
        return None
    try:
        async with runtime.provider_slots:
            return (await provider.send(message)).provider_message_id
    except ProviderError as error:
        if error.transient and message.attempts < runtime.settings.send_max_attempts:
            await runtime.delivery.retry_later(message, code=error.code, text=error.message)
            jitter = random.uniform(1.0, 1.5)  # noqa: S311 - spreading retries, not a secret
            delay = runtime.settings.send_retry_base_ms * 2 ** (message.attempts - 1) * jitter
            await runtime.queue.enqueue(SEND_ACTOR, [(message.id,)], delay_ms=int(delay))
        else:
            await runtime.delivery.failed(message, code=error.code, text=error.message)
        return None


async def _send(runtime: WorkerRuntime, message: Outgoing) -> None:
    provider = runtime.providers.get(message.provider)
    if provider is None:
        await runtime.delivery.failed(
            message, code="unknown_provider", text=f"no provider '{message.provider}'"
        )
        return
    try:
        accepted = await provider.send(message)
    except ProviderError as error:
        if error.transient and message.attempts < runtime.settings.send_max_attempts:
            await runtime.delivery.retry_later(message, code=error.code, text=error.message)
            raise SendDeferred(error.code) from error
        await runtime.delivery.failed(message, code=error.code, text=error.message)
        return
    await retrying(lambda: runtime.delivery.sent(message, accepted.provider_message_id), what="record a send")
