"""`Idempotency-Key`: the first answer to a request is kept 24 h and replayed for the same key.

A key is claimed before the work and its answer is written in the work's own transaction, so a
message and the record of having sent it commit together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables import IdempotencyKey
from gateway.tables.columns import table_of
from resolvers.context import Context
from resolvers.errors import Conflict, ValidationFailed, field_error

KEYS = table_of(IdempotencyKey)
MAX_KEY_LENGTH = 255
ABANDONED_AFTER = timedelta(minutes=2)  # a claim with no answer this old died with its process


class IdempotencyMismatch(ValidationFailed):
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Claim:
    tenant_id: int
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    data: dict[str, Any]


def fingerprint(operation: str, payload: Any) -> str:
    return hashlib.sha256(
        operation.encode() + b"\0" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


async def claim(ctx: Context, *, tenant_id: int, key: str, request_fingerprint: str) -> Claim | Replay:
    """Claims `key` for this request, or returns the answer already given to it."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise field_error("Idempotency-Key", f"1 to {MAX_KEY_LENGTH} characters")
    now = datetime.now(UTC)
    values = {
        "tenant_id": tenant_id,
        "key": key,
        "request_hash": request_fingerprint,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ctx.settings.idempotency_ttl_seconds),
    }
    for _ in range(2):
        try:
            async with ctx.db.writing() as connection:
                await connection.execute(insert(KEYS).values(values))
            return Claim(tenant_id=tenant_id, key=key, fingerprint=request_fingerprint)
        except IntegrityError:
            existing = await _existing(ctx, tenant_id, key)
            if existing is None:
                continue  # expired and removed meanwhile: claim again
            if existing.request_hash != request_fingerprint:
                raise IdempotencyMismatch(
                    "this Idempotency-Key was used with a different request",
                    fields={"Idempotency-Key": ["reused"]},
                ) from None
            if existing.response_status is not None:
                return Replay(status=existing.response_status, data=existing.response_body or {})
            if existing.created_at > now - ABANDONED_AFTER:
                raise Conflict("a request with this Idempotency-Key is in progress; retry shortly") from None
            await _forget(ctx, tenant_id, key)
    raise Conflict("could not claim this Idempotency-Key; retry shortly")


async def _existing(ctx: Context, tenant_id: int, key: str) -> Any:
    query = select(
        KEYS.c.request_hash, KEYS.c.response_status, KEYS.c.response_body, KEYS.c.created_at
    ).where(KEYS.c.tenant_id == tenant_id, KEYS.c.key == key)
    async with ctx.db.reading() as connection:
        row = (await connection.execute(query)).first()
    if row is not None and row.created_at + timedelta(
        seconds=ctx.settings.idempotency_ttl_seconds
    ) < datetime.now(UTC):
        await _forget(ctx, tenant_id, key)
        return None
    return row


async def record(connection: AsyncConnection, claim: Claim, *, status: int, data: dict[str, Any]) -> None:
    """Stores the answer, inside the transaction of the work it describes."""
    statement = (
        update(KEYS)
        .where(KEYS.c.tenant_id == claim.tenant_id, KEYS.c.key == claim.key)
        .values(
            response_status=status, response_body=orjson.loads(orjson.dumps(data, option=orjson.OPT_UTC_Z))
        )
    )
    await connection.execute(statement)


async def release(ctx: Context, claim: Claim) -> None:
    """The work failed and stored nothing: the key may be used again."""
    await _forget(ctx, claim.tenant_id, claim.key)


async def _forget(ctx: Context, tenant_id: int, key: str) -> None:
    async with ctx.db.writing() as connection:
        await connection.execute(delete(KEYS).where(KEYS.c.tenant_id == tenant_id, KEYS.c.key == key))
