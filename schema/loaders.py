"""Request-scoped DataLoaders: every nested lookup is batched into one query per level."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from sqlalchemy import select as core_select
from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from gateway.db import Database
from gateway.tables import Membership, Tenant
from resolvers.campaign_messages import CampaignMessagesRequest, campaign_message_pages
from resolvers.message_reads import MessageView, Transition
from resolvers.message_store import EVENTS
from resolvers.opt_outs import ContactAddresses, OptOutRecord, opt_outs_of_many
from resolvers.pagination import Page


class Loaders:
    """Each loader is made when a request first needs it (most requests need none)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @cached_property
    def tenant_by_id(self) -> DataLoader[int, Tenant | None]:
        return DataLoader(load_fn=self._tenants)

    @cached_property
    def memberships_by_user(self) -> DataLoader[int, list[Membership]]:
        return DataLoader(load_fn=self._memberships)

    @cached_property
    def events_by_message(self) -> DataLoader[int, list[Transition]]:
        return DataLoader(load_fn=self._events)

    @cached_property
    def messages_by_campaign(self) -> DataLoader[CampaignMessagesRequest, Page[MessageView] | None]:
        return DataLoader(load_fn=self._campaign_messages)

    @cached_property
    def opt_outs_by_addresses(self) -> DataLoader[ContactAddresses, list[OptOutRecord]]:
        return DataLoader(load_fn=self._opt_outs)

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

    async def _events(self, message_ids: Sequence[int]) -> list[list[Transition]]:
        """Status transitions of many messages in one query, oldest first."""
        query = (
            core_select(EVENTS.c.message_id, EVENTS.c.status, EVENTS.c.occurred_at, EVENTS.c.detail)
            .where(EVENTS.c.message_id.in_(message_ids))
            .order_by(EVENTS.c.id)
        )
        grouped: dict[int, list[Transition]] = {message_id: [] for message_id in message_ids}
        async with self.db.reading() as connection:
            for message_id, *transition in await connection.execute(query):
                grouped[message_id].append(Transition(*transition))
        return [grouped[message_id] for message_id in message_ids]

    async def _opt_outs(self, keys: Sequence[ContactAddresses]) -> list[list[OptOutRecord]]:
        """Opt-outs of many contacts (one tenant's: a request has one) in one query."""
        async with self.db.reading() as connection:
            contacts = [(key.email, key.phone) for key in keys]
            return await opt_outs_of_many(connection, keys[0].tenant_id, contacts)

    async def _campaign_messages(
        self, requests: Sequence[CampaignMessagesRequest]
    ) -> list[Page[MessageView] | None]:
        """Pages of many campaigns' messages (each request its own page) in two queries."""
        return await campaign_message_pages(self.db, requests)
