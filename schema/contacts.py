"""GraphQL types, inputs and fields for contacts, each calling the same resolver as REST."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers import contacts
from resolvers.contact_fields import ContactFields
from resolvers.contact_records import ContactRecord
from resolvers.validation import parse_input
from schema.context import GraphQLInfo
from schema.opt_outs import OptOut, resolve_opt_outs


@strawberry.type
class Contact:
    id: int
    name: str
    email: str | None
    phone: str | None
    tags: list[str]
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The channels its addresses opted out of.")  # type: ignore[untyped-decorator]
    async def opt_outs(self, info: GraphQLInfo) -> list[OptOut]:
        return await resolve_opt_outs(info, self.email, self.phone)

    @classmethod
    def from_record(cls, record: ContactRecord) -> Contact:
        return cls(
            id=record.id,
            name=record.name,
            email=record.email,
            phone=record.phone,
            tags=record.tags,
            metadata=cast(JSON, record.metadata),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


@strawberry.type
class ContactPage:
    items: list[Contact]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.type
class DeletedContact:
    id: int
    deleted: bool


@strawberry.input(description="Only the fields sent are applied on update; null clears a field.")
class ContactInput:
    name: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET

    def to_fields(self) -> ContactFields:
        sent: dict[str, Any] = {
            name: value for name, value in vars(self).items() if value is not strawberry.UNSET
        }
        return parse_input(ContactFields, sent)


async def resolve_contacts(
    info: GraphQLInfo,
    page: int | None = None,
    per_page: int | None = None,
    search: str | None = None,
    tag: str | None = None,
) -> ContactPage:
    result = await contacts.list_contacts(
        info.context.domain, page=page, per_page=per_page, search=search, tag=tag
    )
    return ContactPage(
        items=[Contact.from_record(record) for record in result.items],
        total_count=result.total,
        page=result.page,
        per_page=result.per_page,
        last_page=result.last_page,
    )


async def resolve_contact(info: GraphQLInfo, id: int) -> Contact:
    return Contact.from_record(await contacts.get_contact(info.context.domain, contact_id=id))


async def create_contact(info: GraphQLInfo, input: ContactInput) -> Contact:
    record = await contacts.create_contact(info.context.domain, fields=input.to_fields())
    return Contact.from_record(record)


async def update_contact(info: GraphQLInfo, id: int, input: ContactInput) -> Contact:
    record = await contacts.update_contact(info.context.domain, contact_id=id, fields=input.to_fields())
    return Contact.from_record(record)


async def delete_contact(info: GraphQLInfo, id: int) -> DeletedContact:
    return DeletedContact(id=await contacts.delete_contact(info.context.domain, contact_id=id), deleted=True)
