"""A call's way through its provider, as the workers see it: claim it to place it, record the
provider's id, and move it forward on each status the provider reports.

Every transition is one transaction: the call row (only forward: `call_status.predecessors`), its
event, the status callback for its `webhook_url` (posted in order by `call_callbacks`), and the
tenant's `call.*` webhook event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database
from gateway.tables import CallCallback, Integration
from gateway.tables.columns import table_of
from resolvers.call_fields import CALL_EVENTS, CALLS
from resolvers.call_status import EVENTS, CallStatus, predecessors
from resolvers.webhook_events import emit_event, event_body, jsonable
from resolvers.webhook_signing import new_webhook_id

CALLBACKS = table_of(CallCallback)
INTEGRATIONS = table_of(Integration)
PLACE_LEASE = timedelta(minutes=2)  # a call being placed by a worker that died is placed again after


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    id: int
    tenant_id: int
    provider: str
    sender: str | None
    to: str
    message: str
    voice: str | None
    language: str | None
    attempts: int
    config: dict[str, Any]


async def claim_call(db: Database, call_id: int) -> OutgoingCall | None:
    """Takes a `queued` call to place (or one whose placing worker went silent); None otherwise."""
    now = datetime.now(UTC)
    statement = (
        update(CALLS)
        .where(
            CALLS.c.id == call_id,
            CALLS.c.status == CallStatus.QUEUED.value,
            CALLS.c.provider_call_id.is_(None),
            or_(CALLS.c.attempts == 0, CALLS.c.updated_at < now - PLACE_LEASE),
        )
        .values(attempts=CALLS.c.attempts + 1, updated_at=now)
        .returning(
            CALLS.c.id,
            CALLS.c.tenant_id,
            CALLS.c.provider,
            CALLS.c.sender,
            CALLS.c.to,
            CALLS.c.message,
            CALLS.c.voice,
            CALLS.c.language,
            CALLS.c.attempts,
            CALLS.c.integration_id,
        )
    )
    async with db.writing() as connection:
        row = (await connection.execute(statement)).first()
        if row is None:
            return None
        config = await _voice_config(connection, row.integration_id)
    *fields, _integration_id = row
    return OutgoingCall(*fields, config)  # type: ignore[call-arg]


async def placed(db: Database, call: OutgoingCall, provider_call_id: str) -> bool:
    """The provider took the call: its id, and `initiated` (unless a callback said more already)."""
    async with db.writing() as connection:
        await connection.execute(
            update(CALLS).where(CALLS.c.id == call.id).values(provider_call_id=provider_call_id)
        )
        return await move(connection, call.id, CallStatus.INITIATED)


async def failed_to_place(db: Database, call: OutgoingCall, *, code: str, text: str) -> bool:
    async with db.writing() as connection:
        return await move(connection, call.id, CallStatus.FAILED, error=(code, text))


async def reported(
    db: Database,
    *,
    provider: str,
    provider_call_id: str,
    status: CallStatus,
    error: tuple[str, str] | None = None,
) -> int | None:
    """A provider's status for one of its calls (applied if it moves the call forward); the call's
    id, or None when no call has this provider id (yet)."""
    query = select(CALLS.c.id).where(
        CALLS.c.provider == provider, CALLS.c.provider_call_id == provider_call_id
    )
    async with db.writing() as connection:
        call_id = (await connection.execute(query)).scalar()
        if call_id is None:
            return None
        await move(connection, int(call_id), status, error=error)
        return int(call_id)


async def move(
    connection: AsyncConnection, call_id: int, status: CallStatus, *, error: tuple[str, str] | None = None
) -> bool:
    """Moves the call forward to `status` with everything that goes with it; False if it is there
    already or beyond (a repeated or late report)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if error is not None:
        values |= {"error_code": error[0][:64], "error_message": error[1][:1000]}
    statement = (
        update(CALLS)
        .where(CALLS.c.id == call_id, CALLS.c.status.in_(predecessors(status)))
        .values(values)
        .returning(CALLS.c.tenant_id, CALLS.c.to, CALLS.c.webhook_url)
    )
    row = (await connection.execute(statement)).first()
    if row is None:
        return False
    detail = {"error_code": error[0], "error_message": error[1]} if error else {}
    event = {"tenant_id": row.tenant_id, "call_id": call_id, "status": status.value, "detail": detail,
             "occurred_at": now}  # fmt: skip
    await connection.execute(insert(CALL_EVENTS).values(event))
    data = {"call_id": call_id, "status": status.value, "to": row.to, "occurred_at": now, **detail}
    event_type = EVENTS[status]
    await emit_event(connection, row.tenant_id, event_type, data, channel="voice")
    if row.webhook_url:
        payload = jsonable(event_body(event_type, now, data))
        callback = {"tenant_id": row.tenant_id, "call_id": call_id, "webhook_id": new_webhook_id(),
                    "payload": payload, "status": "pending", "attempt_count": 0, "next_attempt_at": now,
                    "created_at": now, "updated_at": now}  # fmt: skip
        await connection.execute(insert(CALLBACKS).values(callback))
    return True


async def _voice_config(connection: AsyncConnection, integration_id: int | None) -> dict[str, Any]:
    if integration_id is None:
        return {}
    query = select(INTEGRATIONS.c.channels).where(INTEGRATIONS.c.id == integration_id)
    channels = (await connection.execute(query)).scalar() or {}
    config = channels.get("voice") if isinstance(channels, dict) else None
    return config if isinstance(config, dict) else {}
