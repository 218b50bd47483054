"""Sending: one message or a batch, answered once the rows are committed; then status reads."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from resolvers import idempotency
from resolvers.composing import (
    Draft,
    Plan,
    RecipientOptedOut,
    cached_plan,
    draft,
    opted_out,
    opted_out_error,
    plan,
)
from resolvers.context import Context
from resolvers.errors import DomainError, PayloadTooLarge, ValidationFailed
from resolvers.message_fields import MAX_BATCH, BatchFields, RecipientFields, SendFields
from resolvers.message_store import Stored, insert_messages
from resolvers.message_store import hand_over as hand_over_messages
from resolvers.send_inserts import store_send
from resolvers.validation import as_validation_failed

ACCEPTED = 202
DRAFTS_PER_TURN = 100  # recipients drafted between two turns of the event loop (about 3 ms)
ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class Accepted:
    id: int
    status: str
    channel: str
    to: str
    integration_id: int | None
    route: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Accepted:
        return cls(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


@dataclass(frozen=True, slots=True)
class RecipientResult:
    index: int
    to: str
    id: int | None = None
    status: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BatchAccepted:
    batch_id: str
    channel: str
    integration_id: int | None
    total: int
    accepted: int
    rejected: int
    results: list[RecipientResult]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchAccepted:
        return cls(**{**data, "results": [RecipientResult(**item) for item in data["results"]]})


@dataclass(frozen=True, slots=True)
class Outcome(Generic[ResultT]):
    """A send's result, and whether it is the stored answer to an earlier identical request."""

    result: ResultT
    replayed: bool = False


async def send_message(
    ctx: Context, *, fields: SendFields, idempotency_key: str | None = None
) -> Outcome[Accepted]:
    if idempotency_key is None:  # shares a transaction, and its opt-out check, with concurrent sends
        sending = await cached_plan(ctx, fields)
        stored = await store_send(ctx, sending, draft(sending, fields.to, fields.variables))
        return Outcome(_accepted(sending, stored))
    async with ctx.db.reading() as connection:  # one checkout for every read of the request
        sending = await plan(ctx, fields, connection)
        item = draft(sending, fields.to, fields.variables)
        if await opted_out(connection, sending, [item.to]):
            raise opted_out_error(item.to, fields.channel)
    claim = await _claim(ctx, sending.tenant_id, "send", fields.model_dump(mode="json"), idempotency_key)
    if isinstance(claim, idempotency.Replay):
        return Outcome(Accepted.from_json(claim.data), replayed=True)
    try:
        async with ctx.db.writing() as connection:
            [stored] = await insert_messages(connection, sending, [item], now=datetime.now(UTC))
            accepted = _accepted(sending, stored)
            if claim is not None:
                await idempotency.record(connection, claim, status=ACCEPTED, data=asdict(accepted))
    except BaseException:
        if claim is not None:
            await idempotency.release(ctx, claim)
        raise
    await hand_over_messages(ctx, sending, [stored])
    return Outcome(accepted)


def _accepted(sending: Plan, stored: Stored) -> Accepted:
    route = sending.route
    return Accepted(stored.id, "queued", sending.channel, stored.to, route.integration_id, route.kind,
                    stored.created_at)  # fmt: skip


async def send_batch(
    ctx: Context, *, fields: BatchFields, idempotency_key: str | None = None
) -> Outcome[BatchAccepted]:
    if len(fields.recipients) > MAX_BATCH:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH} recipients, not {len(fields.recipients)}")
    if not fields.recipients:
        raise ValidationFailed("recipients: at least one", fields={"recipients": ["at least one recipient"]})
    async with ctx.db.reading() as connection:
        sending = await plan(ctx, fields, connection)
        results, drafts = await _draft_each(sending, fields)
        refused = await opted_out(connection, sending, [item.to for _, item in drafts])
    results |= {index: _rejected(index, item.to, RecipientOptedOut("opted out")) for index, item in drafts
                if item.to in refused}  # fmt: skip
    drafts = [(index, item) for index, item in drafts if item.to not in refused]
    if not drafts:
        raise ValidationFailed(
            "no recipient was accepted",
            fields={
                f"recipients.{r.index}": [r.error["message"] if r.error else ""] for r in results.values()
            },
        )
    claim = await _claim(
        ctx, sending.tenant_id, "send-batch", fields.model_dump(mode="json"), idempotency_key
    )
    if isinstance(claim, idempotency.Replay):
        return Outcome(BatchAccepted.from_json(claim.data), replayed=True)
    batch_id = "b_" + secrets.token_hex(8)
    try:
        async with ctx.db.writing() as connection:
            stored = await insert_messages(
                connection, sending, [item for _, item in drafts], now=datetime.now(UTC), batch_id=batch_id
            )
            for (index, item), row in zip(drafts, stored, strict=True):
                results[index] = RecipientResult(index=index, to=item.to, id=row.id, status="queued")
            accepted = BatchAccepted(
                batch_id=batch_id,
                channel=fields.channel,
                integration_id=sending.route.integration_id,
                total=len(fields.recipients),
                accepted=len(stored),
                rejected=len(fields.recipients) - len(stored),
                results=[results[index] for index in sorted(results)],
            )
            if claim is not None:
                await idempotency.record(connection, claim, status=ACCEPTED, data=asdict(accepted))
    except BaseException:
        if claim is not None:
            await idempotency.release(ctx, claim)
        raise
    await hand_over_messages(ctx, sending, stored)
    return Outcome(accepted)


async def _draft_each(
    sending: Plan, fields: BatchFields
) -> tuple[dict[int, RecipientResult], list[tuple[int, Draft]]]:
    """Each recipient checked on its own: a result for the rejected, a draft for the rest.

    A recipient takes about 30 us (its number parsed, its body rendered): a full batch would hold
    the event loop for 15+ ms, and with it every live status frame; so it lets the loop run
    between slices."""
    rejected: dict[int, RecipientResult] = {}
    drafts: list[tuple[int, Draft]] = []
    seen: set[str] = set()
    for index, raw in enumerate(fields.recipients):
        if index and index % DRAFTS_PER_TURN == 0:
            await asyncio.sleep(0)
        to = str(raw.get("to", "")) if isinstance(raw, dict) else ""
        try:
            recipient = _recipient(raw)
            item = draft(sending, recipient.to, {**fields.variables, **recipient.variables})
            if item.to in seen:
                raise ValidationFailed("duplicate recipient in this batch", fields={"to": ["duplicate"]})
            seen.add(item.to)
            drafts.append((index, item))
        except DomainError as error:
            rejected[index] = _rejected(index, to, error)
    return rejected, drafts


def _recipient(raw: Any) -> RecipientFields:
    if not isinstance(raw, dict):
        raise ValidationFailed("a recipient is an object with `to`", fields={"to": ["required"]})
    try:
        return RecipientFields.model_validate(raw, strict=True)
    except ValidationError as error:
        raise as_validation_failed(error) from None


def _rejected(index: int, to: str, error: DomainError) -> RecipientResult:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    return RecipientResult(index=index, to=to, status="rejected", error=body)


async def _claim(
    ctx: Context, tenant_id: int, operation: str, payload: Any, key: str | None
) -> idempotency.Claim | idempotency.Replay | None:
    if key is None:
        return None
    return await idempotency.claim(
        ctx, tenant_id=tenant_id, key=key, request_fingerprint=idempotency.fingerprint(operation, payload)
    )
