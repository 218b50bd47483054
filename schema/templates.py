"""GraphQL types and fields for templates and integrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers import integrations, templates
from resolvers.templates import TemplateFields, TemplateRecord
from resolvers.validation import parse_input
from schema.context import GraphQLInfo


@strawberry.type
class Template:
    id: int
    key: str
    channel: str
    name: str
    subject: str | None
    body: str
    variables: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: TemplateRecord) -> Template:
        return cls(**{name: getattr(record, name) for name in TemplateRecord.__dataclass_fields__})


@strawberry.input(
    description="On update only the fields sent are applied; `variables` declares what the texts use."
)
class TemplateInput:
    key: str | None = strawberry.UNSET
    channel: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    variables: list[str] | None = strawberry.UNSET

    def to_fields(self) -> TemplateFields:
        sent: dict[str, Any] = {
            name: value for name, value in vars(self).items() if value is not strawberry.UNSET
        }
        return parse_input(TemplateFields, sent)


@strawberry.type
class Integration:
    id: int
    name: str
    is_default: bool
    channels: JSON = strawberry.field(description="Per channel: provider and sender (no credentials).")
    created_at: datetime


async def resolve_templates(info: GraphQLInfo, channel: str | None = None) -> list[Template]:
    return [
        Template.from_record(item)
        for item in await templates.list_templates(info.context.domain, channel=channel)
    ]


async def resolve_integrations(info: GraphQLInfo) -> list[Integration]:
    return [
        Integration(
            id=item.id,
            name=item.name,
            is_default=item.is_default,
            channels=cast(JSON, item.public_channels()),
            created_at=item.created_at,
        )
        for item in await integrations.list_integrations(info.context.domain)
    ]


async def create_template(info: GraphQLInfo, input: TemplateInput) -> Template:
    return Template.from_record(
        await templates.create_template(info.context.domain, fields=input.to_fields())
    )


async def update_template(info: GraphQLInfo, key: str, input: TemplateInput) -> Template:
    record = await templates.update_template(info.context.domain, key=key, fields=input.to_fields())
    return Template.from_record(record)


async def delete_template(info: GraphQLInfo, key: str) -> str:
    return await templates.delete_template(info.context.domain, key=key)
