"""Voice providers: place a call that speaks a message. The statuses that follow come back on
their own (the sandbox's delayed tasks, Twilio's status callbacks) as `apply_call_status`.

Sandbox magic numbers (the rest ring, are answered, and complete):

| to | outcome |
|---|---|
| +15005550006 | busy |
| +15005550007 | no-answer (rings, nobody answers) |
| +15005550008 | refused permanently when placed: `failed` |
| +15005550009 | refused for now on the first attempt, then placed |
"""

from __future__ import annotations

import hashlib
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.call_progress import OutgoingCall
from resolvers.call_status import CallStatus
from resolvers.receipts import TWILIO_CALL_STATUS_PATH
from workers.providers.base import ProviderError
from workers.providers.http import ApiClient, json_object, timeout_of
from workers.providers.twilio import refusal

CALL_STATUS_ACTOR = "apply_call_status"
SANDBOX_SCRIPT = {
    "+15005550006": (CallStatus.RINGING, CallStatus.BUSY),
    "+15005550007": (CallStatus.RINGING, CallStatus.NO_ANSWER),
}
ANSWERED = (CallStatus.RINGING, CallStatus.IN_PROGRESS, CallStatus.COMPLETED)


class VoiceProvider(Protocol):
    name: str

    async def place(self, call: OutgoingCall) -> str:
        """Places the call; its provider id. Raises ProviderError when refused."""


class UnknownVoiceProvider:
    """What a call names when its integration's voice provider is not one of these: refused."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def place(self, call: OutgoingCall) -> str:
        raise ProviderError("unknown_provider", f"no voice provider '{self.name}'", transient=False)


class SandboxVoice:
    name = "sandbox"

    def __init__(self, queue: TaskQueue, *, step_ms: int) -> None:
        self.queue = queue
        self.step_ms = step_ms

    async def place(self, call: OutgoingCall) -> str:
        if call.to == "+15005550008":
            raise ProviderError("invalid_number", "the sandbox refuses this number", transient=False)
        if call.to == "+15005550009" and call.attempts == 1:
            raise ProviderError(
                "sandbox_unavailable", "the sandbox is unavailable, try again", transient=True
            )
        digest = hashlib.sha256(f"weconn-sandbox-call:{call.tenant_id}:{call.id}".encode()).hexdigest()
        provider_call_id = "CA" + digest[:32]
        # One step at a time: each report names the ones after it, which `apply_call_status` enqueues
        # once it is applied. Enqueued all at once, a report retried because it overtook the commit
        # of the placing would be overtaken in turn, and the call would skip the statuses between.
        first, *rest = [status.value for status in SANDBOX_SCRIPT.get(call.to, ANSWERED)]
        report = (self.name, provider_call_id, first, None, None, rest, self.step_ms)
        await self.queue.enqueue(CALL_STATUS_ACTOR, [report], delay_ms=self.step_ms)
        return provider_call_id


class TwilioVoice:
    """Twilio's Calls resource; the call speaks `message` through TwiML `<Say>`. Config keys as for
    Twilio SMS: `account_sid`, `auth_token`, `sender` (the From number), `timeout`."""

    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = ApiClient("twilio", timeout=settings.provider_timeout_seconds)

    async def place(self, call: OutgoingCall) -> str:
        account_sid, auth_token = call.config.get("account_sid"), call.config.get("auth_token")
        sender = call.sender or call.config.get("sender")
        if not account_sid or not auth_token or not sender:
            raise ProviderError(
                "twilio_config", "account_sid, auth_token and sender are required", transient=False
            )
        form = {"To": call.to, "From": str(sender), "Twiml": twiml(call)}
        if self.settings.public_base_url:
            form["StatusCallback"] = self.settings.public_base_url.rstrip("/") + self.settings.base_path
            form["StatusCallback"] += TWILIO_CALL_STATUS_PATH
            form["StatusCallbackMethod"] = "POST"
        events = [
            ("StatusCallbackEvent", event) for event in ("initiated", "ringing", "answered", "completed")
        ]
        base = self.settings.twilio_api_base_url.rstrip("/")
        response = await self.client.request(
            "POST",
            f"{base}/2010-04-01/Accounts/{account_sid}/Calls.json",
            data=[*form.items(), *events],
            auth=(str(account_sid), str(auth_token)),
            seconds=timeout_of(call.config),
        )
        body = json_object(response)
        if response.status_code in {200, 201} and isinstance(body.get("sid"), str) and body["sid"]:
            return str(body["sid"])
        if response.status_code in {200, 201}:
            raise ProviderError("twilio_bad_response", "Twilio answered without a sid", transient=False)
        raise refusal(response.status_code, body)

    async def aclose(self) -> None:
        await self.client.aclose()


def twiml(call: OutgoingCall) -> str:
    """`<Response><Say>` with the message escaped as XML text (never markup of the caller's)."""
    attributes = "".join(
        f" {name}={quoteattr(value)}"
        for name, value in (("voice", call.voice), ("language", call.language))
        if value
    )
    return f"<Response><Say{attributes}>{escape(call.message)}</Say></Response>"


def build_voice_providers(settings: Settings, queue: TaskQueue) -> dict[str, VoiceProvider]:
    providers: list[VoiceProvider] = [
        SandboxVoice(queue, step_ms=settings.sandbox_call_step_ms),
        TwilioVoice(settings),
    ]
    return {provider.name: provider for provider in providers}
