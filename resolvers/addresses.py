"""Recipient addresses per channel: E.164 for sms and whatsapp, a mailbox for email."""

from __future__ import annotations

from resolvers.contact_fields import normalize_email, normalize_phone
from resolvers.errors import field_error

MESSAGE_CHANNELS = ("sms", "email", "whatsapp")


def normalize_recipient(channel: str, to: str, *, field: str = "to") -> str:
    """The canonical address, or a 422 naming `field`."""
    address = normalize_email(to, field=field) if channel == "email" else normalize_phone(to, field=field)
    if address is None:
        raise field_error(field, "a recipient is required")
    return address
