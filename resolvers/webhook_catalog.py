"""The events a webhook endpoint can receive, an example of each, and the delivery profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXAMPLE_TIME = "2026-04-01T10:00:00Z"


@dataclass(frozen=True, slots=True)
class EventKind:
    name: str
    description: str
    example: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    events: tuple[str, ...]
    channel: str | None = None  # only events of this channel's messages (or calls)


def _message(status: str, description: str, **extra: Any) -> EventKind:
    data = {
        "message_id": 12345, "status": status, "channel": "sms", "to": "+40740111222",
        "batch_id": None, "campaign_id": None, "occurred_at": EXAMPLE_TIME, **extra,
    }  # fmt: skip
    return EventKind(f"message.{status}", description, data)


def _call(status: str, description: str) -> EventKind:
    data = {"call_id": 42, "status": status, "to": "+40740111222", "occurred_at": EXAMPLE_TIME}
    return EventKind(f"call.{status}", description, data)


def _campaign(status: str, description: str) -> EventKind:
    data = {"id": 7, "name": "Spring Sale", "channel": "email", "status": status, "occurred_at": EXAMPLE_TIME}
    return EventKind(f"campaign.{status}", description, data)


CONTACT = {"id": 3, "name": "Ana Pop", "email": "ana@example.com", "phone": "+40740111222", "tags": ["vip"]}
EVENT_KINDS: tuple[EventKind, ...] = (
    _message("queued", "A message was accepted and waits for a worker."),
    _message("sent", "The provider accepted the message.", provider_message_id="SM0123456789abcdef"),
    _message("delivered", "The provider reported the message delivered."),
    _message("undelivered", "The provider could not deliver the message.", error_code="30005",
             error_message="Unknown destination handset"),
    _message("failed", "The message could not be sent.", error_code="invalid_recipient",
             error_message="the recipient was refused"),
    _message("read", "The recipient read the message (WhatsApp)."),
    _call("initiated", "A voice call was placed with the provider."),
    _call("ringing", "The callee's phone is ringing."),
    _call("answered", "The callee answered."),
    _call("completed", "The call ended after being answered."),
    _call("failed", "The call could not be completed (busy, no answer, or an error)."),
    _campaign("scheduled", "A campaign was scheduled (or its time moved)."),
    _campaign("started", "A campaign started sending."),
    _campaign("completed", "Every message of a campaign left the queue."),
    _campaign("cancelled", "A campaign was cancelled."),
    EventKind("contact.created", "A contact was created.", CONTACT),
    EventKind("contact.updated", "A contact was changed.", CONTACT),
    EventKind("contact.deleted", "A contact was deleted.", {"id": 3}),
    EventKind("contact.opted_out", "An address opted out of a channel (SMS STOP, the email unsubscribe "
              "link, or the API); `contact_id` is null when no contact has the address.",
              {"contact_id": 3, "channel": "sms", "address": "+40740111222", "source": "sms_keyword"}),
    EventKind("contact.opted_in", "An opt-out was lifted (SMS START, or the API).",
              {"contact_id": 3, "channel": "sms", "address": "+40740111222", "source": "sms_keyword"}),
    EventKind("webhook.disabled", "One of your webhook endpoints was disabled after failing.",
              {"endpoint_id": 2, "url": "https://example.com/hooks", "reason": "failing since ..."}),
    EventKind("webhook.test", "Sent only when you ask for a test delivery.",
              {"endpoint_id": 2, "message": "This is a test event from WeConn."}),
)  # fmt: skip
EVENT_NAMES = frozenset(kind.name for kind in EVENT_KINDS)
MESSAGE_EVENTS = tuple(kind.name for kind in EVENT_KINDS if kind.name.startswith("message."))
CALL_EVENTS = tuple(kind.name for kind in EVENT_KINDS if kind.name.startswith("call."))
CAMPAIGN_EVENTS = tuple(kind.name for kind in EVENT_KINDS if kind.name.startswith("campaign."))
PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("all", "Every event.", tuple(sorted(EVENT_NAMES - {"webhook.test"}))),
        Profile("sms_only", "Status events of SMS messages.", MESSAGE_EVENTS, "sms"),
        Profile("email_only", "Status events of emails.", MESSAGE_EVENTS, "email"),
        Profile("whatsapp_only", "Status events of WhatsApp messages.", MESSAGE_EVENTS, "whatsapp"),
        Profile("voice_only", "Status events of voice calls.", CALL_EVENTS, "voice"),
        Profile("final_status_only", "Only the last status of each message and call.",
                ("message.delivered", "message.undelivered", "message.failed", "message.read",
                 "call.completed", "call.failed")),
        Profile("failures_only", "Only what went wrong.",
                ("message.undelivered", "message.failed", "call.failed", "webhook.disabled")),
        Profile("campaigns", "Campaign lifecycle events.", CAMPAIGN_EVENTS),
    )
}  # fmt: skip
# Message statuses and their event; `sending` (and `cancelled`) have none.
MESSAGE_STATUS_EVENTS = {name.removeprefix("message."): name for name in MESSAGE_EVENTS}


def catalog() -> dict[str, Any]:
    """The catalog as REST shows it: each event with an example body, each profile with its events."""
    return {
        "events": [
            {"name": kind.name, "description": kind.description,
             "example": {"type": kind.name, "timestamp": EXAMPLE_TIME, "data": kind.example}}
            for kind in EVENT_KINDS
        ],
        "profiles": [
            {"name": profile.name, "description": profile.description, "events": list(profile.events),
             "channel": profile.channel}
            for profile in PROFILES.values()
        ],
    }  # fmt: skip
