"""Inbound SMS from Twilio: the opt-out keywords (STOP ...) and opt-in keywords (START ...).

Which tenants a message concerns follows from the Twilio account that forwarded it:
- an integration whose `sms` config is Twilio with this `AccountSid`, and whose `sender` is the
  `To` number or whose `messaging_service_sid` is the `MessagingServiceSid` (when it names either):
  that integration's tenant;
- the platform's own account (`WECONN_TWILIO_ACCOUNT_SID`): every tenant that sent the phone an SMS
  through the platform route (`sms_routing: "platform"`).
The request must be signed (X-Twilio-Signature) with the AuthToken of such an account; only the
tenants of the accounts whose token verifies are affected. Anything but a keyword is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from resolvers import opt_outs
from resolvers.contact_fields import normalize_phone
from resolvers.context import Context
from resolvers.errors import ValidationFailed
from resolvers.integrations import INTEGRATIONS, PLATFORM
from resolvers.message_store import MESSAGES
from resolvers.receipt_parsing import public_url, twilio_signature_matches
from resolvers.receipts import InvalidSignature

TWILIO_INBOUND_PATH = "/providers/twilio/inbound"
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
SOURCE = "sms_keyword"


@dataclass(frozen=True, slots=True)
class InboundResult:
    action: str  # "opted_out", "opted_in" or "ignored"
    changed: int  # how many tenants' records changed


def keyword_action(body: str) -> str | None:
    """ "opted_out" or "opted_in" when the whole body (trimmed, any case) is a keyword."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "opted_out"
    return "opted_in" if word in OPT_IN_KEYWORDS else None


async def twilio_inbound(
    ctx: Context, *, url: str, params: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> InboundResult:
    first = {name: values[0] for name, values in params.items() if values}
    signature = headers.get("x-twilio-signature", "")
    full_url = public_url(ctx.settings, url)

    def signed_with(token: str | None) -> bool:
        return bool(token and signature and twilio_signature_matches(token, full_url, params, signature))

    async with ctx.db.reading() as connection:
        candidates = await _integration_accounts(connection, first)
    tenant_ids = {tenant_id for tenant_id, token in candidates if signed_with(token)}
    settings = ctx.settings
    platform = bool(settings.twilio_account_sid) and first.get("AccountSid") == settings.twilio_account_sid
    platform = platform and signed_with(settings.twilio_auth_token)
    if not (tenant_ids or platform):
        raise InvalidSignature("X-Twilio-Signature does not sign this request for any account here")
    action = keyword_action(first.get("Body", ""))
    try:
        phone = normalize_phone(first.get("From"), field="From")
    except ValidationFailed:  # a short code, an alphanumeric id, a WhatsApp address: no opt-out here
        phone = None
    if action is None or phone is None:
        return InboundResult("ignored", 0)
    change = opt_outs.opt_out if action == "opted_out" else opt_outs.opt_in
    changed = 0
    async with ctx.db.writing() as connection:
        if platform:
            tenant_ids |= await _platform_tenants(connection, phone)
        for tenant_id in sorted(tenant_ids):
            changed += await change(
                connection, tenant_id=tenant_id, channel="sms", address=phone, source=SOURCE
            )
    return InboundResult(action, changed)


async def _integration_accounts(
    connection: AsyncConnection, form: dict[str, str]
) -> list[tuple[int, str | None]]:
    """(tenant id, AuthToken) of each integration whose Twilio SMS config received this message."""
    account_sid = form.get("AccountSid", "")
    if not account_sid:
        return []
    query = select(INTEGRATIONS.c.tenant_id, INTEGRATIONS.c.channels).where(
        INTEGRATIONS.c.channels[("sms", "account_sid")].as_string() == account_sid
    )
    found = []
    for row in await connection.execute(query):
        config = (row.channels or {}).get("sms")
        if isinstance(config, dict) and config.get("provider") == "twilio" and _addressed_to(config, form):
            token = config.get("auth_token")
            found.append((int(row.tenant_id), token if isinstance(token, str) else None))
    return found


def _addressed_to(config: dict[str, object], form: dict[str, str]) -> bool:
    sender, service = config.get("sender"), config.get("messaging_service_sid")
    if not sender and not service:
        return True  # the whole account is this integration's
    if service and service == form.get("MessagingServiceSid"):
        return True
    digits = _digits(sender) if isinstance(sender, str) else ""
    return bool(digits) and digits == _digits(form.get("To", ""))


def _digits(number: str) -> str:
    return "".join(character for character in number if character.isdigit())


async def _platform_tenants(connection: AsyncConnection, phone: str) -> set[int]:
    query = (
        select(MESSAGES.c.tenant_id)
        .where(MESSAGES.c.route == PLATFORM, MESSAGES.c.channel == "sms", MESSAGES.c.to == phone)
        .distinct()
    )
    return {int(tenant_id) for tenant_id in (await connection.execute(query)).scalars()}
