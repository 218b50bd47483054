"""The provider interface: send one message, or say why not (permanently or for now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from resolvers.delivery import Outgoing


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
