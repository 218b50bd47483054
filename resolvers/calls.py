"""Voice calls through the API: initiate one (committed `queued`, then handed to a worker), read
one with its transitions, list them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from gateway.tables.columns import MAX_ID
from resolvers import idempotency
from resolvers.addresses import normalize_recipient
from resolvers.call_fields import CALL_EVENTS, CALLS, RECORD_COLUMNS, CallFields, CallRecord, CallTransition
from resolvers.call_status import CallStatus
from resolvers.context import Context
from resolvers.errors import NotFound
from resolvers.integrations import resolve_route
from resolvers.messages import Outcome
from resolvers.pagination import Page, page_request
from resolvers.webhooks import check_target

PLACE_CALL_ACTOR = "place_call"
ACCEPTED = 202
logger = logging.getLogger("weconn.calls")


async def initiate_call(
    ctx: Context, *, fields: CallFields, idempotency_key: str | None = None
) -> Outcome[CallRecord]:
    tenant_id = ctx.require("send").tenant_id
    to = normalize_recipient("voice", fields.to)
    if fields.webhook_url:
        await check_target(ctx.settings, fields.webhook_url, field="webhook_url")  # and at every attempt
    claim: idempotency.Claim | None = None
    if idempotency_key is not None:
        fingerprint = idempotency.fingerprint("call", fields.model_dump(mode="json"))
        claimed = await idempotency.claim(
            ctx, tenant_id=tenant_id, key=idempotency_key, request_fingerprint=fingerprint
        )
        if isinstance(claimed, idempotency.Replay):
            return Outcome(await _load(ctx, tenant_id, int(claimed.data["id"])), replayed=True)
        claim = claimed
    now = datetime.now(UTC)
    try:
        async with ctx.db.writing() as connection:
            route = await resolve_route(connection, ctx.settings, tenant_id=tenant_id, channel="voice",
                                        integration_id=fields.integration_id, sms_routing=None)  # fmt: skip
            values = {
                "tenant_id": tenant_id, "integration_id": route.integration_id, "provider": route.provider,
                "sender": route.sender, "to": to, "message": fields.message, "voice": fields.voice,
                "language": fields.language, "webhook_url": fields.webhook_url or None,
                "status": CallStatus.QUEUED.value, "attempts": 0, "created_at": now, "updated_at": now,
            }  # fmt: skip
            call_id = (
                await connection.execute(insert(CALLS).values(values).returning(CALLS.c.id))
            ).scalar_one()
            queued = CallStatus.QUEUED.value
            event = {
                "tenant_id": tenant_id,
                "call_id": call_id,
                "status": queued,
                "detail": {},
                "occurred_at": now,
            }
            await connection.execute(insert(CALL_EVENTS).values(event))
            if claim is not None:
                await idempotency.record(connection, claim, status=ACCEPTED, data={"id": call_id})
    except BaseException:
        if claim is not None:
            await idempotency.release(ctx, claim)
        raise
    try:
        await ctx.task_queue().enqueue(PLACE_CALL_ACTOR, [(call_id,)])
    except Exception:  # any broker failure: committed, so the sweeper places the call later
        logger.exception("enqueueing call %d failed; the sweeper will place it", call_id)
    return Outcome(await _load(ctx, tenant_id, call_id))


async def get_call(ctx: Context, *, call_id: int) -> CallRecord:
    tenant_id = ctx.require("read").tenant_id
    if not 0 < call_id <= MAX_ID:
        raise NotFound(f"call {call_id} not found")
    return await _load(ctx, tenant_id, call_id)


async def _load(ctx: Context, tenant_id: int, call_id: int) -> CallRecord:
    query = select(*RECORD_COLUMNS).where(CALLS.c.id == call_id, CALLS.c.tenant_id == tenant_id)
    events = select(CALL_EVENTS.c.status, CALL_EVENTS.c.occurred_at, CALL_EVENTS.c.detail).where(
        CALL_EVENTS.c.call_id == call_id
    )
    async with ctx.db.reading() as connection:
        row = (await connection.execute(query)).first()
        if row is None:
            raise NotFound(f"call {call_id} not found")
        found = await connection.execute(events.order_by(CALL_EVENTS.c.id))
        transitions = [CallTransition(*event) for event in found]
    return CallRecord(*row, events=transitions)  # type: ignore[call-arg]


async def list_calls(ctx: Context, *, page: int | None, per_page: int | None) -> Page[CallRecord]:
    """Newest first, without their transitions (`GET /calls/{id}` has them)."""
    tenant_id = ctx.require("read").tenant_id
    request = page_request(ctx.settings, page=page, per_page=per_page)
    query = select(*RECORD_COLUMNS).where(CALLS.c.tenant_id == tenant_id)
    count = select(func.count()).select_from(CALLS).where(CALLS.c.tenant_id == tenant_id)
    async with ctx.db.reading() as connection:
        total = int((await connection.execute(count)).scalar_one())
        rows = await connection.execute(
            query.order_by(CALLS.c.id.desc()).offset(request.offset).limit(request.per_page)
        )
        items = [CallRecord(*row) for row in rows]  # type: ignore[call-arg]
    return Page(items=items, page=request.page, per_page=request.per_page, total=total)
