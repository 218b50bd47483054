"""The provider interface: send one message, or say why not (permanently or for now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from resolvers.delivery import Outgoing
from resolvers.message_status import MessageStatus


class ProviderError(Exception):
    """A refusal; `transient` ones are retried with backoff, permanent ones fail the message."""

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Accepted:
    provider_message_id: str


class Provider(Protocol):
    name: str

    async def send(self, message: Outgoing) -> Accepted:
        """Hands the message to the provider; raises ProviderError when it is refused."""


@runtime_checkable
class StatusLookup(Protocol):
    """A provider that can be asked for a message's status, for receipts that never arrived."""

    async def fetch_status(self, message: Outgoing, provider_message_id: str) -> Receipt | None:
        """The provider's current word on the message; None while it has nothing final to say."""


@dataclass(frozen=True, slots=True)
class Receipt:
    status: MessageStatus
    error_code: str | None = None
    error_message: str | None = None
