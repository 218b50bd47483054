"""Request-scoped DataLoaders: every nested lookup is batched into one query per level."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from gateway.db import Database
from gateway.tables import Membership, Tenant


class Loaders:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.tenant_by_id = DataLoader[int, Tenant | None](load_fn=self._tenants)
        self.memberships_by_user = DataLoader[int, list[Membership]](load_fn=self._memberships)

    async def _tenants(self, ids: Sequence[int]) -> list[Tenant | None]:
        async with self.db.sessions() as session:
            rows = (await session.exec(select(Tenant).where(col(Tenant.id).in_(ids)))).all()
            found = {tenant.id: tenant for tenant in rows}
        return [found.get(tenant_id) for tenant_id in ids]

    async def _memberships(self, user_ids: Sequence[int]) -> list[list[Membership]]:
        query = select(Membership).where(col(Membership.user_id).in_(user_ids)).order_by(col(Membership.id))
        grouped: dict[int, list[Membership]] = {user_id: [] for user_id in user_ids}
        async with self.db.sessions() as session:
            for membership in (await session.exec(query)).all():
                grouped[membership.user_id].append(membership)
        return [grouped[user_id] for user_id in user_ids]
