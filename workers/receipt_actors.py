"""Receipt actors: apply a provider's receipt, look again at a Twilio callback that came early,
and ask the provider about a receipt that never came."""

from __future__ import annotations

import dramatiq

from gateway.queue import queue_of
from resolvers import receipts
from resolvers.errors import DomainError
from resolvers.message_status import MessageStatus
from resolvers.receipt_batches import ReceiptCall, apply_calls
from resolvers.receipt_batches import apply_receipt as apply_grouped
from workers.providers.base import StatusLookup
from workers.runtime import RuntimeFactory

RECEIPT_AHEAD_BACKOFF_MS = 200


class ReceiptAhead(dramatiq.Retry):
    """A receipt for a provider id not recorded yet: the receipt overtook the commit of `sent`.
    Dramatiq retries it with a short backoff; after the last retry the reconciliation of the
    sweeper (which asks the provider) is what settles the message. A `Retry`: not logged as an error."""


def register_receipt_actors(runtimes: RuntimeFactory) -> None:
    retries = runtimes.settings.receipt_ahead_retries
    ahead = {
        "max_retries": retries,
        "min_backoff": RECEIPT_AHEAD_BACKOFF_MS,
        "max_backoff": RECEIPT_AHEAD_BACKOFF_MS * 2**retries,
    }

    async def apply_receipt(
        provider: str,
        provider_message_id: str,
        status: str,
        error_code: str | None,
        error_message: str | None,
    ) -> None:
        known = await apply_grouped(
            runtimes.current().delivery,
            provider=provider,
            provider_message_id=provider_message_id,
            status=MessageStatus(status),
            error_code=error_code,
            error_message=error_message,
        )
        if not known:
            raise ReceiptAhead(provider_message_id)

    async def apply_receipts(calls: list[ReceiptCall], attempt: int = 0) -> None:
        """Receipts that came together; those whose provider id is not recorded yet (they
        overtook the commit of `sent`) are tried again with backoff, as `ReceiptAhead` is."""
        runtime = runtimes.current()
        as_sent: list[ReceiptCall] = [(p, key, status, code, text) for p, key, status, code, text in calls]
        known = await apply_calls(runtime.delivery, as_sent)
        ahead = [call for call, found in zip(as_sent, known, strict=True) if not found]
        if ahead and attempt < retries:
            delay_ms = RECEIPT_AHEAD_BACKOFF_MS * 2**attempt
            await runtime.queue.enqueue(receipts.RECEIPTS_ACTOR, [(ahead, attempt + 1)], delay_ms=delay_ms)

    async def recheck_twilio_status(url: str, params: dict[str, list[str]], headers: dict[str, str]) -> None:
        """A status callback whose MessageSid was not recorded yet; its signature is checked now."""
        runtime = runtimes.current()
        if await receipts.twilio_receipt(runtime.delivery, url=url, params=params, headers=headers) is None:
            raise ReceiptAhead(str(params.get("MessageSid")))

    async def reconcile_message(message_id: int) -> None:
        """A receipt that never came: ask the provider, where it can be asked."""
        runtime = runtimes.current()
        found = await runtime.delivery.awaiting_receipt(message_id)
        if found is None:
            return
        message, provider_message_id = found
        provider: object = runtime.providers.get(message.provider)
        if not isinstance(provider, StatusLookup):
            return
        receipt = await provider.fetch_status(message, provider_message_id)
        if receipt is not None:
            await runtime.delivery.receipt(
                provider=message.provider,
                provider_message_id=provider_message_id,
                status=receipt.status,
                error_code=receipt.error_code,
                error_message=receipt.error_message,
            )

    receipt_queue = queue_of(receipts.RECEIPT_ACTOR)
    runtimes.actor(apply_receipt, actor_name=receipts.RECEIPT_ACTOR, queue_name=receipt_queue, **ahead)
    # It retries its own receipts that came ahead; a failed transaction is retried whole.
    runtimes.actor(apply_receipts, actor_name=receipts.RECEIPTS_ACTOR, queue_name=receipt_queue, **ahead)
    runtimes.actor(
        recheck_twilio_status,
        actor_name=receipts.TWILIO_RECHECK_ACTOR,
        queue_name=queue_of(receipts.TWILIO_RECHECK_ACTOR),
        throws=(DomainError,),  # a bad signature will not get better
        **ahead,
    )
    reconciling = queue_of("reconcile_message")
    runtimes.actor(reconcile_message, actor_name="reconcile_message", queue_name=reconciling, max_retries=3)
