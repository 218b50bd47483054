"""Reading messages: one with its transitions, many by id, or a filtered page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.tables.columns import MAX_ID
from resolvers.context import Context
from resolvers.errors import NotFound, ValidationFailed, field_error
from resolvers.message_fields import MAX_STATUS_IDS
from resolvers.message_status import MessageStatus
from resolvers.message_store import EVENTS, MESSAGES
from resolvers.pagination import Page, page_request

COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.status,
    MESSAGES.c.channel,
    MESSAGES.c.to,
    MESSAGES.c.integration_id,
    MESSAGES.c.route,
    MESSAGES.c.provider,
    MESSAGES.c.provider_message_id,
    MESSAGES.c.error_code,
    MESSAGES.c.error_message,
    MESSAGES.c.attempts,
    MESSAGES.c.batch_id,
    MESSAGES.c.template_key,
    MESSAGES.c.created_at,
    MESSAGES.c.updated_at,
)


@dataclass(frozen=True, slots=True)
class Transition:
    status: str
    occurred_at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessageView:
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
    events: list[Transition] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> MessageView:
        return cls(*row)


async def get_message(ctx: Context, *, message_id: int) -> MessageView:
    tenant_id = ctx.require("read").tenant_id
    if not 0 < message_id <= MAX_ID:
        raise NotFound(f"message {message_id} not found")
    async with ctx.db.reading() as connection:
        row = (
            await connection.execute(
                select(*COLUMNS).where(MESSAGES.c.id == message_id, MESSAGES.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"message {message_id} not found")
        events = await connection.execute(
            select(EVENTS.c.status, EVENTS.c.occurred_at, EVENTS.c.detail)
            .where(EVENTS.c.message_id == message_id)
            .order_by(EVENTS.c.id)
        )
        view = MessageView.from_row(row)
        view.events.extend(Transition(*event) for event in events)
    return view


async def batch_status(ctx: Context, *, message_ids: list[int]) -> list[dict[str, Any]]:
    """In the order asked; an unknown or another tenant's id is just `not_found`."""
    tenant_id = ctx.require("read").tenant_id
    if len(message_ids) > MAX_STATUS_IDS:
        raise field_error("message_ids", f"at most {MAX_STATUS_IDS} ids")
    possible = {message_id for message_id in message_ids if 0 < message_id <= MAX_ID}
    query = select(*COLUMNS).where(MESSAGES.c.tenant_id == tenant_id, MESSAGES.c.id.in_(possible))
    async with ctx.db.reading() as connection:
        found = {row.id: MessageView.from_row(row) for row in await connection.execute(query)}
    return [_status_entry(found.get(message_id), message_id) for message_id in message_ids]


def _status_entry(view: MessageView | None, message_id: int) -> dict[str, Any]:
    if view is None:
        return {"id": message_id, "status": "not_found"}
    keys = (
        "id",
        "status",
        "channel",
        "to",
        "provider_message_id",
        "error_code",
        "error_message",
        "updated_at",
    )
    return {key: getattr(view, key) for key in keys}


async def list_messages(
    ctx: Context,
    *,
    status: str | None,
    channel: str | None,
    batch_id: str | None = None,
    page: int | None = None,
    per_page: int | None = None,
) -> Page[MessageView]:
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    filters = [MESSAGES.c.tenant_id == tenant_id]
    if status is not None:
        if status not in {item.value for item in MessageStatus}:
            raise ValidationFailed(
                "unknown status", fields={"status": [f"one of {', '.join(MessageStatus)}"]}
            )
        filters.append(MESSAGES.c.status == status)
    if channel is not None:
        filters.append(MESSAGES.c.channel == channel)
    if batch_id is not None:
        filters.append(MESSAGES.c.batch_id == batch_id)
    query = (
        select(*COLUMNS)
        .where(*filters)
        .order_by(MESSAGES.c.id.desc())
        .offset(request.offset)
        .limit(request.per_page)
    )
    async with ctx.db.reading() as connection:
        total = (
            await connection.execute(select(func.count()).select_from(MESSAGES).where(*filters))
        ).scalar_one()
        items = [MessageView.from_row(row) for row in await connection.execute(query)]
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)
