"""GraphQL types and fields for sending and reading messages, on the same resolvers as REST."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers import message_reads, messages
from resolvers.message_fields import BatchFields, SendFields
from resolvers.message_reads import MessageView
from resolvers.validation import parse_input
from schema.context import GraphQLInfo


@strawberry.type
class MessageEvent:
    status: str
    occurred_at: datetime
    detail: JSON


@strawberry.type
class Message:
    id: int
    status: str
    channel: str
    to: str
    integration_id: int | None
    route: str
    provider: str
    provider_message_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    batch_id: str | None
    template_key: str | None
    created_at: datetime
    updated_at: datetime
    view: strawberry.Private[MessageView]

    @strawberry.field(description="Every status transition, oldest first.")  # type: ignore[untyped-decorator]
    async def events(self, info: GraphQLInfo) -> list[MessageEvent]:
        transitions = self.view.events or await info.context.loaders.events_by_message.load(self.id)
        return [
            MessageEvent(status=item.status, occurred_at=item.occurred_at, detail=cast(JSON, item.detail))
            for item in transitions
        ]

    @classmethod
    def from_view(cls, view: MessageView) -> Message:
        fields = {name: getattr(view, name) for name in MessageView.__dataclass_fields__ if name != "events"}
        return cls(**fields, view=view)


@strawberry.type
class MessagePage:
    items: list[Message]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.type
class SendResult:
    id: int
    status: str
    channel: str
    to: str
    integration_id: int | None
    route: str
    created_at: datetime
    replayed: bool


@strawberry.type
class RecipientResult:
    index: int
    to: str
    id: int | None
    status: str | None
    error: JSON | None


@strawberry.type
class BatchResult:
    batch_id: str
    channel: str
    integration_id: int | None
    total: int
    accepted: int
    rejected: int
    results: list[RecipientResult]
    replayed: bool


@strawberry.input
class RecipientInput:
    to: str
    variables: JSON | None = strawberry.UNSET


@strawberry.input(
    description="A message: a template_key or a body, and the route (integration or platform SMS)."
)
class SendMessageInput:
    channel: str
    to: str
    template_key: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    variables: JSON | None = strawberry.UNSET
    integration_id: int | None = strawberry.UNSET
    sms_routing: str | None = strawberry.UNSET


@strawberry.input(description="Shared fields once, then up to 500 recipients with their own variables.")
class SendBatchInput:
    channel: str
    recipients: list[RecipientInput]
    template_key: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    variables: JSON | None = strawberry.UNSET
    integration_id: int | None = strawberry.UNSET
    sms_routing: str | None = strawberry.UNSET


def _given(source: object) -> dict[str, Any]:
    """The fields a client sent, in the resolver's input shape (nested inputs included)."""
    values: dict[str, Any] = {}
    for name, value in vars(source).items():
        if value is strawberry.UNSET:
            continue
        values[name] = (
            [_given(item) for item in value] if isinstance(value, list) and name == "recipients" else value
        )
    return values


async def send_message(
    info: GraphQLInfo, input: SendMessageInput, idempotency_key: str | None = None
) -> SendResult:
    fields = parse_input(SendFields, _given(input))
    outcome = await messages.send_message(info.context.domain, fields=fields, idempotency_key=idempotency_key)
    return SendResult(**asdict(outcome.result), replayed=outcome.replayed)


async def send_batch(
    info: GraphQLInfo, input: SendBatchInput, idempotency_key: str | None = None
) -> BatchResult:
    fields = parse_input(BatchFields, _given(input))
    outcome = await messages.send_batch(info.context.domain, fields=fields, idempotency_key=idempotency_key)
    batch = asdict(outcome.result)
    results = [RecipientResult(**item) for item in batch.pop("results")]
    return BatchResult(**batch, results=results, replayed=outcome.replayed)


async def resolve_message(info: GraphQLInfo, id: int) -> Message:
    return Message.from_view(await message_reads.get_message(info.context.domain, message_id=id))


async def resolve_messages(  # noqa: PLR0917 - each is an optional GraphQL filter argument
    info: GraphQLInfo, status: str | None = None, channel: str | None = None, batch_id: str | None = None,
    page: int | None = None, per_page: int | None = None,
) -> MessagePage:  # fmt: skip
    result = await message_reads.list_messages(
        info.context.domain, status=status, channel=channel, batch_id=batch_id, page=page, per_page=per_page
    )
    return MessagePage(items=[Message.from_view(item) for item in result.items], total_count=result.total,
                       page=result.page, per_page=result.per_page, last_page=result.last_page)  # fmt: skip
