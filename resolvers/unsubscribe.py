"""The one-click unsubscribe link of campaign emails: look at it, or act on it (RFC 8058).

Looking (GET) changes nothing, since mail scanners fetch links; the POST opts the address out of
email for the tenant named in the signed token, idempotently, with `contact.opted_out` once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from resolvers import opt_outs
from resolvers.context import Context
from resolvers.errors import NotFound
from resolvers.unsubscribe_tokens import Unsubscribe, read_token

SOURCE = "unsubscribe_link"


@dataclass(frozen=True, slots=True)
class UnsubscribeView:
    channel: str
    address: str  # masked: the page may be seen by whoever holds the link
    unsubscribed: bool


def _target(ctx: Context, token: str) -> Unsubscribe:
    target = read_token(ctx.settings, token)
    if target is None:
        raise NotFound("this unsubscribe link is not valid")
    return target


async def view_unsubscribe(ctx: Context, *, token: str) -> UnsubscribeView:
    target = _target(ctx, token)
    async with ctx.db.reading() as connection:
        done = await opt_outs.is_opted_out(
            connection, tenant_id=target.tenant_id, channel=target.channel, address=target.address
        )
    return UnsubscribeView(target.channel, masked(target.address), unsubscribed=done)


async def unsubscribe(ctx: Context, *, token: str) -> UnsubscribeView:
    target = _target(ctx, token)
    try:
        async with ctx.db.writing() as connection:
            await opt_outs.opt_out(
                connection, tenant_id=target.tenant_id, channel=target.channel, address=target.address,
                source=SOURCE,
            )  # fmt: skip
    except IntegrityError:  # the tenant is gone
        raise NotFound("this unsubscribe link is not valid any more") from None
    return UnsubscribeView(target.channel, masked(target.address), unsubscribed=True)


def masked(address: str) -> str:
    """`a***@example.com`: enough to recognise one's own address, not to harvest it."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else f"***{address[-4:]}"
