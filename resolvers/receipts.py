"""Delivery receipts from providers: check the provider signed them, map their statuses, apply them.

HTTP stays in `rest_compat`: these take the URL, parameters, headers (lower-case names) and raw
body as plain values. A receipt about no message of ours is acknowledged and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import orjson
from sqlalchemy import select

from resolvers.context import Context
from resolvers.delivery import Delivery
from resolvers.errors import BadRequest, Forbidden
from resolvers.integrations import INTEGRATIONS, PLATFORM
from resolvers.message_status import MessageStatus
from resolvers.message_store import MESSAGES
from resolvers.receipt_batches import apply_receipt
from resolvers.receipt_parsing import (
    clean,
    hub_signature_matches,
    public_url,
    secrets_match,
    twilio_signature_matches,
    whatsapp_error,
    whatsapp_status_items,
)

TWILIO_STATUS_PATH = "/providers/twilio/status"
TWILIO_CALL_STATUS_PATH = "/providers/twilio/call-status"
TWILIO_RECHECK_ACTOR = "recheck_twilio_status"
RECHECK_DELAY_MS = 500
RECEIPT_ACTOR = "apply_receipt"  # one receipt: (provider, provider id, status, error code, error text)
RECEIPTS_ACTOR = "apply_receipts"  # a list of them, applied together
WHATSAPP_WEBHOOK_PATH = "/providers/whatsapp/webhook"
# Twilio's earlier statuses (accepted, scheduled) say nothing yet; later ones mean it took the message.
TWILIO_STATUSES = {
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "read": MessageStatus.READ,
}
WHATSAPP_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}
ERROR_STATUSES = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})  # the others carry none
PROVIDER_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")  # anything else cannot be one of ours


class InvalidSignature(Forbidden):
    code = "invalid_signature"


async def twilio_status(
    ctx: Context, *, url: str, params: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> bool:
    """A Twilio status callback; True when it was about one of our messages. One whose MessageSid
    is not recorded yet may have overtaken the commit of its send: it is looked at again shortly."""
    delivery = Delivery(ctx.db, ctx.settings, ctx.bus)
    known = await twilio_receipt(delivery, url=url, params=params, headers=headers)
    signature = headers.get("x-twilio-signature", "")
    if known is None and signature and ctx.queue is not None:
        fields = {name: list(values) for name, values in params.items()}
        again = (url, fields, {"x-twilio-signature": signature})
        await ctx.queue.enqueue(TWILIO_RECHECK_ACTOR, [again], delay_ms=RECHECK_DELAY_MS)
    return bool(known)


async def twilio_receipt(
    delivery: Delivery, *, url: str, params: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> bool | None:
    """Checks the signature (the AuthToken of the integration that sent the message) and applies
    the status; None when no message of ours has this MessageSid, False when it is not ours."""
    first = {name: values[0] for name, values in params.items() if values}
    sid = first.get("MessageSid") or first.get("SmsSid") or ""
    if not sid:
        raise BadRequest("MessageSid is required")
    if not PROVIDER_ID.fullmatch(sid):
        return False
    auth_token = await _twilio_auth_token(delivery, sid)
    if auth_token is None:
        return None
    signature = headers.get("x-twilio-signature", "")
    full_url = public_url(delivery.settings, url)
    if not (auth_token and signature and twilio_signature_matches(auth_token, full_url, params, signature)):
        raise InvalidSignature("X-Twilio-Signature does not sign this request")
    status = TWILIO_STATUSES.get((first.get("MessageStatus") or first.get("SmsStatus") or "").lower())
    if status is None:
        return True
    code = clean(first.get("ErrorCode"))
    error = (code, clean(first.get("ErrorMessage")) or f"Twilio error {code}") if code else None
    return await _apply(delivery, "twilio", sid, status, error)


def whatsapp_challenge(ctx: Context, *, params: Mapping[str, str]) -> str:
    """Meta's subscription check: echo `hub.challenge` when the verify token is ours."""
    expected = ctx.settings.whatsapp_verify_token
    given = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not expected or not secrets_match(expected, given):
        raise Forbidden("hub.mode must be subscribe and hub.verify_token the configured token")
    challenge = params.get("hub.challenge", "")
    if not challenge:
        raise BadRequest("hub.challenge is required")
    return challenge


async def whatsapp_statuses(ctx: Context, *, body: bytes, headers: Mapping[str, str]) -> int:
    """A WhatsApp Cloud webhook delivery, signed with the app secret; applies every status in it
    and returns how many were about our messages."""
    secret = ctx.settings.whatsapp_app_secret
    if not secret or not hub_signature_matches(secret, body, headers.get("x-hub-signature-256", "")):
        raise InvalidSignature("X-Hub-Signature-256 does not sign this body")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not JSON") from None
    delivery = Delivery(ctx.db, ctx.settings, ctx.bus)
    applied = 0
    for item in whatsapp_status_items(payload):
        wamid, status = item.get("id"), WHATSAPP_STATUSES.get(str(item.get("status")))
        if not (isinstance(wamid, str) and PROVIDER_ID.fullmatch(wamid) and status is not None):
            continue
        error = whatsapp_error(item)
        if await _apply(delivery, "whatsapp_cloud", wamid, status, error):
            applied += 1
        elif ctx.queue is not None:  # signed, so ours: it may have overtaken the commit of its send
            code, text = error if error and status in ERROR_STATUSES else (None, None)
            receipt = ("whatsapp_cloud", wamid, status.value, code, text)
            await ctx.queue.enqueue(RECEIPT_ACTOR, [receipt], delay_ms=RECHECK_DELAY_MS)
    return applied


async def _twilio_auth_token(delivery: Delivery, sid: str) -> str | None:
    """The AuthToken of the account that sent message `sid` ("" when unknown); None: no such message."""
    query = (
        select(MESSAGES.c.route, MESSAGES.c.channel, INTEGRATIONS.c.channels)
        .select_from(MESSAGES.outerjoin(INTEGRATIONS, INTEGRATIONS.c.id == MESSAGES.c.integration_id))
        .where(MESSAGES.c.provider == "twilio", MESSAGES.c.provider_message_id == sid)
        .limit(1)
    )
    async with delivery.db.reading() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    if row.route == PLATFORM:
        return delivery.settings.twilio_auth_token or ""
    config = (row.channels or {}).get(row.channel)
    token = config.get("auth_token") if isinstance(config, dict) else None
    return token if isinstance(token, str) else ""


async def _apply(
    delivery: Delivery, provider: str, message_id: str, status: MessageStatus, error: tuple[str, str] | None
) -> bool:
    code, text = error if error and status in ERROR_STATUSES else (None, None)
    return await apply_receipt(
        delivery, provider=provider, provider_message_id=message_id, status=status, error_code=code,
        error_message=text,
    )  # fmt: skip
