"""GraphQL twins of the voice call API: `initiateCall`, `call(id)`, `calls`; the same resolvers
as REST, so the same rules and error codes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from resolvers import calls
from resolvers.call_fields import CallFields, CallRecord
from resolvers.validation import parse_input
from schema.context import GraphQLInfo


@strawberry.type(description="A status a call went through, and when.")
class CallEvent:
    status: str
    occurred_at: datetime
    detail: JSON


@strawberry.type(description="An outbound voice call that speaks a message.")
class Call:
    id: int
    status: str = strawberry.field(
        description="queued, initiated, ringing, in-progress, completed, busy, no-answer, failed or canceled"
    )
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
    events: list[CallEvent]
    replayed: bool = False

    @classmethod
    def from_record(cls, record: CallRecord, *, replayed: bool = False) -> Call:
        values = asdict(record)
        events = [CallEvent(**event) for event in values.pop("events")]
        return cls(**values, events=events, replayed=replayed)


@strawberry.type
class CallPage:
    items: list[Call]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.input(description="The call to place: who, what to say, where its statuses go.")
class InitiateCallInput:
    to: str
    message: str
    webhook_url: str | None = strawberry.UNSET
    voice: str | None = strawberry.UNSET
    language: str | None = strawberry.UNSET
    integration_id: int | None = strawberry.UNSET


def _given(source: object) -> dict[str, Any]:
    return {name: value for name, value in vars(source).items() if value is not strawberry.UNSET}


async def initiate_call(
    info: GraphQLInfo, input: InitiateCallInput, idempotency_key: str | None = None
) -> Call:
    fields = parse_input(CallFields, _given(input))
    outcome = await calls.initiate_call(info.context.domain, fields=fields, idempotency_key=idempotency_key)
    return Call.from_record(outcome.result, replayed=outcome.replayed)


async def resolve_call(info: GraphQLInfo, id: int) -> Call:
    return Call.from_record(await calls.get_call(info.context.domain, call_id=id))


async def resolve_calls(info: GraphQLInfo, page: int | None = None, per_page: int | None = None) -> CallPage:
    found = await calls.list_calls(info.context.domain, page=page, per_page=per_page)
    return CallPage(
        items=[Call.from_record(record) for record in found.items], total_count=found.total, page=found.page,
        per_page=found.per_page, last_page=found.last_page,
    )  # fmt: skip
