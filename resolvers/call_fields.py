"""What `POST /calls/initiate` takes, and a call as the API shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from gateway.tables import Call, CallEvent
from gateway.tables.columns import table_of

CALLS = table_of(Call)
CALL_EVENTS = table_of(CallEvent)
MAX_SPOKEN_CHARACTERS = 3000  # Twilio's <Say> reads at most 4,096 characters; leave room for markup


class CallFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SPOKEN_CHARACTERS)
    ]
    webhook_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)] | None = None
    voice: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = None
    integration_id: int | None = None


@dataclass(frozen=True, slots=True)
class CallTransition:
    status: str
    occurred_at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: int
    status: str
    to: str
    message: str
    voice: str | None
    language: str | None
    webhook_url: str | None
    integration_id: int | None
    provider: str
    provider_call_id: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    events: list[CallTransition] = field(default_factory=list)


RECORD_COLUMNS = (
    CALLS.c.id, CALLS.c.status, CALLS.c.to, CALLS.c.message, CALLS.c.voice, CALLS.c.language,
    CALLS.c.webhook_url, CALLS.c.integration_id, CALLS.c.provider, CALLS.c.provider_call_id,
    CALLS.c.error_code, CALLS.c.error_message, CALLS.c.created_at, CALLS.c.updated_at,
)  # fmt: skip
