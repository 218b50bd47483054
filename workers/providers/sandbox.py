"""The sandbox: accepts every message, and reports a receipt after a configurable delay.

Magic recipients, as with Twilio's test numbers, make the other outcomes happen on demand:

| sms / whatsapp | email | outcome |
|---|---|---|
| +15005550001 | sandbox+fail@example.com | refused permanently (`invalid_recipient`) |
| +15005550002 | sandbox+retry@example.com | refused for now on every attempt: failed when attempts run out |
| +15005550003 | sandbox+flaky@example.com | refused for now on the first attempt, then delivered |
| +15005550004 | sandbox+noreceipt@example.com | sent, and no receipt ever comes |
| +15005550005 | sandbox+undelivered@example.com | sent, then reported `undelivered` |

A message's provider id is derived from the message (see `sandbox_message_id`): repeated sends of
it are one message to the sandbox, as with providers that honour idempotency keys.
"""

from __future__ import annotations

import asyncio
import hashlib

from gateway.queue import TaskQueue
from resolvers.delivery import Outgoing
from resolvers.message_status import MessageStatus
from workers.providers.base import Accepted, ProviderError, Receipt
from workers.providers.receipt_outbox import ReceiptOutbox

MAGIC = {
    "+15005550001": "fail",
    "+15005550002": "retry",
    "+15005550003": "flaky",
    "+15005550004": "noreceipt",
    "+15005550005": "undelivered",
}


def magic_outcome(to: str) -> str | None:
    if to in MAGIC:
        return MAGIC[to]
    local = to.split("@", 1)[0]
    if local.startswith("sandbox+") and to.endswith("@example.com"):
        return local.removeprefix("sandbox+")
    return None


class SandboxProvider:
    name = "sandbox"

    def __init__(self, queue: TaskQueue, *, receipt_delay_ms: int, send_latency_ms: int = 0) -> None:
        self.receipts = ReceiptOutbox(queue, delay_ms=receipt_delay_ms)
        self.send_latency_ms = send_latency_ms

    async def send(self, message: Outgoing) -> Accepted:
        if self.send_latency_ms:
            await asyncio.sleep(self.send_latency_ms / 1000)
        outcome = magic_outcome(message.to)
        if outcome == "fail":
            raise ProviderError("invalid_recipient", "the sandbox refuses this recipient", transient=False)
        if outcome == "retry" or (outcome == "flaky" and message.attempts == 1):
            raise ProviderError(
                "sandbox_unavailable", "the sandbox is unavailable, try again", transient=True
            )
        provider_message_id = sandbox_message_id(message)
        receipt = _receipt_for(outcome)
        if receipt is not None:
            status, code, text = receipt.status.value, receipt.error_code, receipt.error_message
            await self.receipts.post((self.name, provider_message_id, status, code, text))
        return Accepted(provider_message_id=provider_message_id)

    async def fetch_status(self, message: Outgoing, provider_message_id: str) -> Receipt | None:
        """What the receipt said (or would have): the sandbox keeps no state, its outcomes are rules."""
        del provider_message_id
        return _receipt_for(magic_outcome(message.to))


def sandbox_message_id(message: Outgoing) -> str:
    """The same message always gets the same id: like a provider API that takes an idempotency
    key, the sandbox treats a send repeated for one message (a worker killed between the
    provider's answer and the commit of `sent`, then the sweeper's resend) as that one message."""
    digest = hashlib.sha256(f"weconn-sandbox:{message.tenant_id}:{message.id}".encode()).hexdigest()
    return "SB" + digest[:32]


def _receipt_for(outcome: str | None) -> Receipt | None:
    if outcome == "noreceipt":
        return None
    if outcome == "undelivered":
        return Receipt(MessageStatus.UNDELIVERED, "30005", "unknown destination handset")
    return Receipt(MessageStatus.DELIVERED)
