"""A campaign's messages, newest first, a page at a time; many campaigns' pages in two queries.

`campaign_message_pages` is the batch behind GraphQL's `Campaign.messages` DataLoader: whatever
the number of campaigns (and of pages asked of each), one query reads their counters, for the
totals and the tenant check, and one compound query reads every page, each branch limited on its
own. The totals come from the campaign's counters, which move with its messages in the same
transactions, so they cost the same at 100,000 messages as at ten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database
from gateway.tables.columns import MAX_ID
from resolvers.campaign_counters import BUCKETS, CAMPAIGNS, COUNTERS
from resolvers.context import Context
from resolvers.errors import NotFound, ValidationFailed
from resolvers.message_reads import COLUMNS, MessageView
from resolvers.message_status import MessageStatus
from resolvers.message_store import MESSAGES
from resolvers.pagination import Page, page_request

# SQLite refuses compound statements of more than 500 SELECTs; stay well below.
MAX_PAGES_PER_QUERY = 200
STATUSES = frozenset(item.value for item in MessageStatus)


@dataclass(frozen=True, slots=True)
class CampaignMessagesRequest:
    """One page of one campaign's messages, asked within `tenant_id` (hashable: a DataLoader key)."""

    tenant_id: int
    campaign_id: int
    page: int
    per_page: int
    status: str | None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def messages_request(
    ctx: Context, *, campaign_id: int, page: int | None, per_page: int | None, status: str | None
) -> CampaignMessagesRequest:
    """Checks the caller's scope, the paging (per_page capped like every list) and the status."""
    tenant_id = ctx.require("read").tenant_id
    paging = page_request(ctx.settings, page=page, per_page=per_page)
    if status is not None and status not in STATUSES:
        raise ValidationFailed("unknown status", fields={"status": [f"one of {', '.join(MessageStatus)}"]})
    return CampaignMessagesRequest(tenant_id, campaign_id, paging.page, paging.per_page, status)


async def list_campaign_messages(
    ctx: Context,
    *,
    campaign_id: int,
    page: int | None = None,
    per_page: int | None = None,
    status: str | None = None,
) -> Page[MessageView]:
    """One campaign's messages; an unknown campaign, or another tenant's, is a 404."""
    request = messages_request(ctx, campaign_id=campaign_id, page=page, per_page=per_page, status=status)
    found = (await campaign_message_pages(ctx.db, [request]))[0]
    if found is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return found


async def campaign_message_pages(
    db: Database, requests: Sequence[CampaignMessagesRequest]
) -> list[Page[MessageView] | None]:
    """Each request's page, in order; None where the campaign is not one of the request's tenant."""
    pages: list[Page[MessageView] | None] = [None] * len(requests)
    by_tenant: dict[int, list[int]] = {}
    for index, request in enumerate(requests):
        if 0 < request.campaign_id <= MAX_ID:
            by_tenant.setdefault(request.tenant_id, []).append(index)
    async with db.reading() as connection:
        for tenant_id, indexes in by_tenant.items():
            campaign_ids = sorted({requests[index].campaign_id for index in indexes})
            counts = await _counts(connection, tenant_id, campaign_ids)
            wanted: list[int] = []
            for index in indexes:
                request = requests[index]
                if request.campaign_id not in counts:
                    continue
                total = _total(counts[request.campaign_id], request.status)
                pages[index] = Page([], request.page, request.per_page, total)
                if request.offset < total:
                    wanted.append(index)
            for index, views in await _items(connection, requests, wanted):
                page = pages[index]
                assert page is not None
                page.items.extend(views)
    return pages


async def _counts(
    connection: AsyncConnection, tenant_id: int, campaign_ids: list[int]
) -> dict[int, dict[str, int]]:
    """The summed counters of those of `campaign_ids` that are the tenant's."""
    sums = [func.coalesce(func.sum(COUNTERS.c[name]), 0).label(name) for name in ("total", *BUCKETS)]
    query = (
        select(CAMPAIGNS.c.id, *sums)
        .select_from(CAMPAIGNS.outerjoin(COUNTERS, COUNTERS.c.campaign_id == CAMPAIGNS.c.id))
        .where(CAMPAIGNS.c.tenant_id == tenant_id, CAMPAIGNS.c.id.in_(campaign_ids))
        .group_by(CAMPAIGNS.c.id)
    )
    return {
        row.id: {name: int(row._mapping[name]) for name in ("total", *BUCKETS)}
        for row in await connection.execute(query)
    }


def _total(counts: dict[str, int], status: str | None) -> int:
    """The campaign's messages (in `status`): every contact counted in `total` but a skipped one."""
    return counts["total"] - counts["skipped"] if status is None else counts[status]


async def _items(
    connection: AsyncConnection, requests: Sequence[CampaignMessagesRequest], wanted: list[int]
) -> Iterable[tuple[int, list[MessageView]]]:
    """The messages of each wanted request, newest first, one compound query per 200 pages."""
    found: dict[int, list[MessageView]] = {index: [] for index in wanted}
    for start in range(0, len(wanted), MAX_PAGES_PER_QUERY):
        branches = [
            _page_query(index, requests[index]) for index in wanted[start : start + MAX_PAGES_PER_QUERY]
        ]
        query = branches[0] if len(branches) == 1 else union_all(*branches)
        for index, *row in await connection.execute(query):
            found[index].append(MessageView.from_row(row))
    for views in found.values():
        views.sort(key=lambda view: view.id, reverse=True)
    return found.items()


def _page_query(index: int, request: CampaignMessagesRequest) -> Select[Any]:
    """One page, tagged with its request's index; wrapped, since SQLite limits no bare branch."""
    filters = [MESSAGES.c.tenant_id == request.tenant_id, MESSAGES.c.campaign_id == request.campaign_id]
    if request.status is not None:
        filters.append(MESSAGES.c.status == request.status)
    page = (
        select(literal_column(str(index), Integer).label("request_index"), *COLUMNS)
        .where(*filters)
        .order_by(MESSAGES.c.id.desc())
        .offset(request.offset)
        .limit(request.per_page)
        .subquery()
    )
    return select(page)
