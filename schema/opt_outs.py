"""GraphQL type and mutations of a contact's opt-outs, calling the same resolvers as REST."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import contact_opt_outs
from resolvers.contact_opt_outs import OptOutFields
from resolvers.opt_outs import ContactAddresses, OptOutRecord
from resolvers.validation import parse_input
from schema.context import GraphQLInfo


@strawberry.type(description="The contact's address may not be messaged on this channel.")
class OptOut:
    channel: str
    address: str
    source: str = strawberry.field(description="sms_keyword, unsubscribe_link or api")
    created_at: datetime

    @classmethod
    def from_record(cls, record: OptOutRecord) -> OptOut:
        return cls(
            channel=record.channel, address=record.address, source=record.source, created_at=record.created_at
        )


async def resolve_opt_outs(info: GraphQLInfo, email: str | None, phone: str | None) -> list[OptOut]:
    """Through a DataLoader: a page of contacts costs one query."""
    tenant_id = info.context.domain.require("read").tenant_id
    key = ContactAddresses(tenant_id=tenant_id, email=email, phone=phone)
    records = await info.context.loaders.opt_outs_by_addresses.load(key)
    return [OptOut.from_record(record) for record in records]


async def opt_out_contact(info: GraphQLInfo, id: int, channel: str) -> list[OptOut]:
    fields = parse_input(OptOutFields, {"channel": channel})
    records = await contact_opt_outs.opt_out_contact(
        info.context.domain, contact_id=id, channel=fields.channel
    )
    return [OptOut.from_record(record) for record in records]


async def opt_in_contact(info: GraphQLInfo, id: int, channel: str) -> list[OptOut]:
    records = await contact_opt_outs.opt_in_contact(info.context.domain, contact_id=id, channel=channel)
    return [OptOut.from_record(record) for record in records]
