"""Call actors: place a call through its voice provider, apply a status the provider reported,
and post a call's status callbacks to its `webhook_url` in order."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

from sqlalchemy import update

from gateway.queue import queue_of
from resolvers import call_callbacks, call_progress
from resolvers.call_callbacks import CALLBACK_ACTOR
from resolvers.call_fields import CALLS
from resolvers.call_status import CallStatus
from resolvers.calls import PLACE_CALL_ACTOR
from workers.providers.base import ProviderError
from workers.providers.voice import CALL_STATUS_ACTOR, UnknownVoiceProvider
from workers.receipt_actors import ReceiptAhead
from workers.runtime import RuntimeFactory, WorkerRuntime
from workers.webhook_sender import post_signed
from workers.webhook_transport import client_for

logger = logging.getLogger("weconn.calls")


def register_call_actors(runtimes: RuntimeFactory) -> None:
    settings = runtimes.settings

    async def place_call(call_id: int) -> None:
        runtime = runtimes.current()
        call = await call_progress.claim_call(runtime.db, call_id)
        if call is None:
            return  # placed already, or another worker is placing it
        provider = runtime.voice.get(call.provider)
        if provider is None:
            provider = UnknownVoiceProvider(call.provider)
        try:
            provider_call_id = await provider.place(call)
        except ProviderError as error:
            if error.transient and call.attempts < settings.send_max_attempts:
                await _place_again(runtime, call_id, call.attempts)
                return
            await call_progress.failed_to_place(runtime.db, call, code=error.code, text=error.message)
        else:
            await call_progress.placed(runtime.db, call, provider_call_id)
        await runtime.queue.enqueue(CALLBACK_ACTOR, [(call_id,)])

    async def apply_call_status(  # noqa: PLR0917 - a Dramatiq actor's arguments are positional
        provider: str,
        provider_call_id: str,
        status: str,
        error_code: str | None,
        error_message: str | None,
        then: list[str] | None = None,
        then_delay_ms: int = 0,
    ) -> None:
        """Applies one reported status; `then`: the statuses to report after it, one at a time
        (`then_delay_ms` apart), so a scripted call (the sandbox's) keeps its order."""
        runtime = runtimes.current()
        error = (error_code, error_message or error_code) if error_code else None
        call_id = await call_progress.reported(
            runtime.db,
            provider=provider,
            provider_call_id=provider_call_id,
            status=CallStatus(status),
            error=error,
        )
        if call_id is None:
            raise ReceiptAhead(provider_call_id)  # the report overtook the commit of the placing
        await runtime.queue.enqueue(CALLBACK_ACTOR, [(call_id,)])
        if then:
            report = (provider, provider_call_id, then[0], None, None, then[1:], then_delay_ms)
            await runtime.queue.enqueue(CALL_STATUS_ACTOR, [report], delay_ms=then_delay_ms)

    async def deliver_call_callbacks(call_id: int) -> None:
        """Posts the call's due callbacks, oldest first; a failure stops the line until its retry."""
        runtime = runtimes.current()
        while (callback := await call_callbacks.take_next(runtime.db, settings, call_id)) is not None:
            outcome = await post_signed(
                client_for(settings), settings, url=callback.url, webhook_id=callback.webhook_id,
                payload=callback.payload, signing_secrets=[callback.secret],
            )  # fmt: skip
            if outcome.ok and outcome.status_code is not None:
                await call_callbacks.delivered(runtime.db, callback, outcome.status_code)
                continue
            error = outcome.error or f"HTTP {outcome.status_code}"
            delay = await call_callbacks.attempt_failed(
                runtime.db, settings, callback, status_code=outcome.status_code, error=error
            )
            if delay is not None:
                await runtime.queue.enqueue(CALLBACK_ACTOR, [(call_id,)], delay_ms=int(delay * 1000) + 10)
                return

    retries = settings.receipt_ahead_retries
    runtimes.actor(place_call, actor_name=PLACE_CALL_ACTOR, queue_name=queue_of(PLACE_CALL_ACTOR),
                   max_retries=0)  # fmt: skip
    runtimes.actor(
        apply_call_status, actor_name=CALL_STATUS_ACTOR, queue_name=queue_of(CALL_STATUS_ACTOR),
        max_retries=retries, min_backoff=200, max_backoff=200 * 2**retries,
    )  # fmt: skip
    runtimes.actor(deliver_call_callbacks, actor_name=CALLBACK_ACTOR, queue_name=queue_of(CALLBACK_ACTOR),
                   max_retries=3)  # fmt: skip


async def _place_again(runtime: WorkerRuntime, call_id: int, attempts: int) -> None:
    """A transient refusal: the call is claimable again, and placed after a backoff."""
    async with runtime.db.writing() as connection:
        claimable = datetime.now(UTC) - call_progress.PLACE_LEASE * 2
        await connection.execute(update(CALLS).where(CALLS.c.id == call_id).values(updated_at=claimable))
    jitter = random.uniform(1.0, 1.5)  # noqa: S311 - spreading retries, not a secret
    delay = runtime.settings.send_retry_base_ms * 2 ** (attempts - 1) * jitter
    await runtime.queue.enqueue(PLACE_CALL_ACTOR, [(call_id,)], delay_ms=int(delay))
