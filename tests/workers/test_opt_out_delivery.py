"""Opt-outs end to end: a campaign email through a real SMTP server (aiosmtpd) carries the
one-click unsubscribe headers (RFC 8058) and its link opts the address out of email; STOP and the
link reach a registered webhook as `contact.opted_out`, verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import Integration
from resolvers.bootstrap import SANDBOX_CHANNELS
from resolvers.unsubscribe_tokens import Unsubscribe, make_token, unsubscribe_link
from resolvers.webhook_records import OUTBOX
from tests.support.campaigns import add_contacts
from tests.support.campaigns import create as create_campaign
from tests.support.messaging import send, sending_tenant
from tests.support.opt_outs import add_twilio_number, inbound, new_twilio_number
from tests.support.server import free_port
from tests.support.tenants import TenantKeys, new_tenant
from tests.support.webhook_receiver import Receiver
from tests.support.webhook_service import register
from tests.workers.test_smtp_provider import Inbox

CAMPAIGNS = "/api/v1/integrations/campaigns"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def smtp_tenant(db: Database, port: int) -> TenantKeys:
    tenant = await new_tenant(db)
    email = {"provider": "smtp", "host": "127.0.0.1", "port": port, "sender": "news@shop.example.com"}
    async with db.sessions() as session:
        channels = {**SANDBOX_CHANNELS, "email": email}
        session.add(Integration(tenant_id=tenant.id, name="Mail", channels=channels, is_default=True))
        await session.commit()
    return tenant


async def received_by(inbox: Inbox, address: str, count: int = 1, seconds: float = 20) -> list[EmailMessage]:
    deadline = time.monotonic() + seconds
    while len(found := [message for _, to, message in inbox.received if address in to]) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} emails to {address}"
        await asyncio.sleep(0.05)
    return found


async def test_a_campaign_email_carries_a_one_click_link_that_opts_out(
    client: httpx.AsyncClient, db: Database, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    tenant = await smtp_tenant(db, port)
    await add_contacts(db, tenant.id, 1, prefix=f"reader{tenant.id}")
    address = f"reader{tenant.id}-0@example.com"
    campaign = await create_campaign(client, tenant, name="News", channel="email", subject="News",
                                     message_template="<p>Hello {{ name }}</p>")  # fmt: skip
    started = await client.post(f"{CAMPAIGNS}/{campaign['id']}/send", headers=tenant.headers())
    assert started.status_code == 202, started.text
    [email] = await received_by(inbox, address)
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(email["List-Unsubscribe"])
    assert header.startswith("<http://localhost:")  # no public_base_url here: localhost
    assert header.endswith(">")
    link = urlsplit(header[1:-1])
    assert link.path.startswith("/api/v1/unsubscribe/")

    page = await client.get(link.path)  # what a mail scanner (or a person) fetches
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'method="post"' in page.text
    assert "r***@example.com" in page.text
    assert (
        await send(client, tenant, channel="email", to=address, body="<p>still allowed</p>")
    ).status_code == 202
    [_, plain] = await received_by(inbox, address, 2)
    assert plain["List-Unsubscribe"] is None  # a single email is not a campaign's

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # idempotent
        clicked = await client.post(link.path, content="List-Unsubscribe=One-Click", headers=form)
        assert clicked.status_code == 200, clicked.text
        assert clicked.json()["data"] == {
            "channel": "email",
            "address": "r***@example.com",
            "unsubscribed": True,
        }
    refused = await send(client, tenant, channel="email", to=address, body="<p>more news</p>")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    assert (
        await send(client, tenant, channel="sms", to="+40740123000", body="sms is fine")
    ).status_code == 202
    assert "You are unsubscribed" in (await client.get(link.path)).text


def tampered(token: str, how: str) -> str:
    payload, signature = token.split(".")
    other = "eyJ0Ijo5OTk5OTksImMiOiJlbWFpbCIsImEiOiJ4QHkuY29tIn0"  # {"t":999999,"c":"email","a":"x@y.com"}
    return {
        "signature": f"{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "payload": f"{other}.{signature}",
        "garbage": "garbage",
        "dots": "a.b.c",
        "bytes": f"%FF%FE.{signature}",
    }[how]


@pytest.mark.parametrize("how", ["signature", "payload", "garbage", "dots", "bytes"])
async def test_a_tampered_link_is_refused(
    client: httpx.AsyncClient, db: Database, settings: Settings, how: str
) -> None:
    tenant, _ = await sending_tenant(db)
    token = tampered(make_token(settings, Unsubscribe(tenant.id, "email", "x@y.com")), how)
    for method in ("GET", "POST"):
        response = await client.request(
            method, f"/api/v1/unsubscribe/{token}", content="List-Unsubscribe=One-Click"
        )
        assert response.status_code == 404, (method, token, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert (await send(client, tenant, channel="email", to="x@y.com", body="<p>Hi</p>")).status_code == 202


# Webhooks ---------------------------------------------------------------------------------------


async def test_opt_outs_reach_a_webhook_once_each(
    http: httpx.AsyncClient, service: Any, receiver: Receiver
) -> None:
    db: Database = service.state.db
    tenant, _ = await sending_tenant(db)
    number = new_twilio_number()
    await add_twilio_number(db, tenant.id, number)
    hook = await register(
        http, tenant, receiver.url("/opt-outs"), events=["contact.opted_out", "contact.opted_in"]
    )
    ana = {"name": "Ana", "phone": "+40740123222", "email": "ana@example.com"}
    created = await http.post("/api/v1/integrations/contacts", headers=tenant.headers(), json=ana)
    contact_id = created.json()["data"]["id"]

    assert (await inbound(http, number, "+40740123222", "STOP")).status_code == 200
    assert (await inbound(http, number, "+40740123222", "STOP")).status_code == 200  # already: no event
    assert (await inbound(http, number, "+40740123222", "START")).status_code == 200
    link = unsubscribe_link(
        service.state.services.settings, Unsubscribe(tenant.id, "email", "ana@example.com")
    )
    assert link is not None
    for _ in range(2):
        clicked = await http.post(urlsplit(link).path, content="List-Unsubscribe=One-Click")
        assert clicked.status_code == 200

    arrived = await receiver.wait_for("/opt-outs", 3)
    bodies = [request.verify(hook["secret"]) for request in arrived]
    sms = {"contact_id": contact_id, "channel": "sms", "address": "+40740123222", "source": "sms_keyword"}
    email = {"contact_id": contact_id, "channel": "email", "address": "ana@example.com",
             "source": "unsubscribe_link"}  # fmt: skip
    delivered = sorted((body["type"], body["data"]["channel"], body["data"]) for body in bodies)
    assert [(kind, data) for kind, _, data in delivered] == [
        ("contact.opted_in", sms), ("contact.opted_out", email), ("contact.opted_out", sms)
    ]  # fmt: skip
    query = select(func.count()).where(
        OUTBOX.c.tenant_id == tenant.id, OUTBOX.c.type.in_(["contact.opted_out", "contact.opted_in"])
    )
    async with db.reading() as connection:
        assert (await connection.execute(query)).scalar_one() == 3  # each change once, nothing more
