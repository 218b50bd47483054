"""Twilio's call status callbacks: signed with the AuthToken of the integration that placed the
call, mapped onto our statuses, applied forward only, then the call's callbacks are posted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from resolvers import call_progress
from resolvers.call_callbacks import CALLBACK_ACTOR
from resolvers.call_fields import CALLS
from resolvers.call_progress import INTEGRATIONS
from resolvers.call_status import TWILIO_CALL_STATUSES
from resolvers.context import Context
from resolvers.errors import BadRequest
from resolvers.receipt_parsing import clean, public_url, twilio_signature_matches
from resolvers.receipts import PROVIDER_ID, InvalidSignature


async def twilio_call_status(
    ctx: Context, *, url: str, params: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> bool:
    """True when the callback was about one of our calls (an unknown CallSid is acknowledged)."""
    first = {name: values[0] for name, values in params.items() if values}
    sid = first.get("CallSid") or ""
    if not sid:
        raise BadRequest("CallSid is required")
    if not PROVIDER_ID.fullmatch(sid):
        return False
    token = await _auth_token(ctx, sid)
    if token is None:
        return False
    signature = headers.get("x-twilio-signature", "")
    if not (
        token
        and signature
        and twilio_signature_matches(token, public_url(ctx.settings, url), params, signature)
    ):
        raise InvalidSignature("X-Twilio-Signature does not sign this request")
    status = TWILIO_CALL_STATUSES.get((first.get("CallStatus") or "").lower())
    if status is None:
        return True
    code = clean(first.get("ErrorCode")) or clean(first.get("SipResponseCode"))
    error = (code, clean(first.get("ErrorMessage")) or f"Twilio error {code}") if code else None
    call_id = await call_progress.reported(
        ctx.db, provider="twilio", provider_call_id=sid, status=status, error=error
    )
    if call_id is not None and ctx.queue is not None:
        await ctx.queue.enqueue(CALLBACK_ACTOR, [(call_id,)])
    return call_id is not None


async def _auth_token(ctx: Context, sid: str) -> str | None:
    """The AuthToken of the integration that placed call `sid` ("" if it has none); None: no such call."""
    query = (
        select(INTEGRATIONS.c.channels)
        .select_from(CALLS.outerjoin(INTEGRATIONS, INTEGRATIONS.c.id == CALLS.c.integration_id))
        .where(CALLS.c.provider == "twilio", CALLS.c.provider_call_id == sid)
        .limit(1)
    )
    async with ctx.db.reading() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    config = (row.channels or {}).get("voice")
    token = config.get("auth_token") if isinstance(config, dict) else None
    return token if isinstance(token, str) else ""
