"""GraphQL types for the caller: `me`, its tenant and memberships."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.auth import format_scopes
from gateway.tables import Membership as MembershipRow
from gateway.tables import Tenant as TenantRow
from resolvers.errors import NotFound
from schema.context import GraphQLInfo


@strawberry.type
class Tenant:
    id: int
    slug: str
    name: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: TenantRow) -> Tenant:
        assert row.id is not None
        return cls(id=row.id, slug=row.slug, name=row.name, created_at=row.created_at)


@strawberry.type
class Membership:
    role: str
    tenant_id: strawberry.Private[int]

    @strawberry.field
    async def tenant(self, info: GraphQLInfo) -> Tenant:
        return await load_tenant(info, self.tenant_id)

    @classmethod
    def from_row(cls, row: MembershipRow) -> Membership:
        return cls(role=row.role, tenant_id=row.tenant_id)


@strawberry.type
class Me:
    kind: str = strawberry.field(description="`api_key` or `user`")
    scopes: str
    role: str | None
    user_id: int | None
    api_key_id: int | None
    tenant_id: strawberry.Private[int]

    @strawberry.field
    async def tenant(self, info: GraphQLInfo) -> Tenant:
        return await load_tenant(info, self.tenant_id)

    @strawberry.field(description="Every tenant this user belongs to; empty for an API key.")  # type: ignore[untyped-decorator]
    async def memberships(self, info: GraphQLInfo) -> list[Membership]:
        if self.user_id is None:
            return []
        rows = await info.context.loaders.memberships_by_user.load(self.user_id)
        return [Membership.from_row(row) for row in rows]


async def load_tenant(info: GraphQLInfo, tenant_id: int) -> Tenant:
    row = await info.context.loaders.tenant_by_id.load(tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return Tenant.from_row(row)


def resolve_me(info: GraphQLInfo) -> Me:
    principal = info.context.domain.require("read")
    return Me(
        kind=principal.kind,
        scopes=format_scopes(principal.scopes),
        role=principal.role,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        tenant_id=principal.tenant_id,
    )


async def resolve_tenant(info: GraphQLInfo) -> Tenant:
    principal = info.context.domain.require("read")
    return await load_tenant(info, principal.tenant_id)
