"""Opt-out: STOP from a phone blocks the next SMS to it (422 recipient_opted_out), START lifts it;
a contact's opt-outs over REST and GraphQL. Inbound messages are signed as Twilio signs them."""

from __future__ import annotations

import httpx
import pytest

from gateway.db import Database
from gateway.settings import Settings
from tests.support.messaging import sending_tenant
from tests.support.opt_outs import (
    GraphQLOptOuts,
    RestOptOuts,
    TwilioNumber,
    add_twilio_number,
    inbound,
    new_twilio_number,
)

Api = RestOptOuts | GraphQLOptOuts
PHONE = "+40740123456"


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Api:
    return RestOptOuts(client) if request.param == "rest" else GraphQLOptOuts(client)


async def _contact(client: httpx.AsyncClient, headers: dict[str, str], **fields: str) -> int:
    created = await client.post(
        "/api/v1/integrations/contacts", json={"name": "Ana", **fields}, headers=headers
    )
    assert created.status_code == 201, created.text
    return int(created.json()["data"]["id"])


async def test_stop_blocks_the_next_sms_and_start_lifts_it(
    api: Api, client: httpx.AsyncClient, db: Database
) -> None:
    tenant, _ = await sending_tenant(db)
    number = new_twilio_number()
    await add_twilio_number(db, tenant.id, number)
    contact_id = await _contact(client, tenant.headers(), phone=PHONE)
    assert (await api.send(tenant.headers(), "sms", PHONE, "Sale today")).ok

    stopped = await inbound(client, number, PHONE, "STOP")
    assert stopped.status_code == 200, stopped.text
    assert stopped.headers["content-type"].startswith("text/xml")
    assert stopped.text.endswith("<Response/>")
    refused = await api.send(tenant.headers(), "sms", "+40 740 123 456", "Sale tomorrow")
    assert refused.code == "recipient_opted_out"
    assert (await api.send(tenant.headers(), "whatsapp", PHONE, "Order ready")).ok  # only SMS
    [opt_out] = (await api.opt_outs(tenant.headers(), contact_id)).data
    assert (opt_out["channel"], opt_out["address"], opt_out["source"]) == ("sms", PHONE, "sms_keyword")

    assert (await inbound(client, number, PHONE, " start ")).status_code == 200
    assert (await api.send(tenant.headers(), "sms", PHONE, "Welcome back")).ok
    assert (await api.opt_outs(tenant.headers(), contact_id)).data == []

    for keyword in (" stop ", "Unsubscribe", "quit\n"):
        assert (await inbound(client, number, PHONE, keyword)).status_code == 200
        assert (await api.send(tenant.headers(), "sms", PHONE, "again")).code == "recipient_opted_out"
        assert (await inbound(client, number, PHONE, "unstop")).status_code == 200
        assert (await api.send(tenant.headers(), "sms", PHONE, "again")).ok


async def test_other_messages_are_accepted_and_change_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant, _ = await sending_tenant(db)
    number = new_twilio_number()
    await add_twilio_number(db, tenant.id, number)
    for body in ("Stop it, please", "STOP!", "", "What time is my appointment?"):
        response = await inbound(client, number, PHONE, body)
        assert response.status_code == 200, (body, response.text)
    assert (await RestOptOuts(client).send(tenant.headers(), "sms", PHONE, "Hello")).ok
    assert (await inbound(client, number, "ShortCode", "STOP")).status_code == 200  # no phone: ignored


async def test_unsigned_or_wrongly_signed_messages_are_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant, _ = await sending_tenant(db)
    number = new_twilio_number()
    await add_twilio_number(db, tenant.id, number)
    wrong = await inbound(client, number, PHONE, "STOP", token="not-the-auth-token")
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "invalid_signature"
    unknown_account = TwilioNumber("AC" + "0" * 32, number.auth_token, number.number)
    assert (await inbound(client, unknown_account, PHONE, "STOP")).status_code == 403
    other_number = TwilioNumber(number.account_sid, number.auth_token, "+14155550999")
    assert (await inbound(client, other_number, PHONE, "STOP")).status_code == 403
    unsigned = await client.post(
        "/api/v1/providers/twilio/inbound",
        content=f"AccountSid={number.account_sid}&From=%2B40740123456&To=%2B14155550123&Body=STOP",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 403
    assert (await RestOptOuts(client).send(tenant.headers(), "sms", PHONE, "still allowed")).ok


async def test_stop_to_the_platform_number_opts_out_of_the_tenants_that_used_it(
    client: httpx.AsyncClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = new_twilio_number()
    monkeypatch.setattr(settings, "twilio_account_sid", platform.account_sid)
    monkeypatch.setattr(settings, "twilio_auth_token", platform.auth_token)
    phone = "+40740123999"
    user, _ = await sending_tenant(db)
    bystander, _ = await sending_tenant(db)
    body = {"channel": "sms", "to": phone, "body": "Hi", "sms_routing": "platform"}
    sent = await client.post("/api/v1/integrations/messages/send", headers=user.headers(), json=body)
    assert sent.status_code == 202, sent.text
    assert (await inbound(client, platform, phone, "Stop")).status_code == 200
    rest = RestOptOuts(client)
    assert (await rest.send(user.headers(), "sms", phone, "Hi again")).code == "recipient_opted_out"
    assert (await rest.send(bystander.headers(), "sms", phone, "Hello")).ok


async def test_a_contact_is_opted_out_and_back_in_by_api(
    api: Api, client: httpx.AsyncClient, db: Database
) -> None:
    tenant, _ = await sending_tenant(db)
    contact_id = await _contact(client, tenant.headers(), phone="+40740123111", email="ana@example.com")
    for _ in range(2):  # idempotent
        opted = await api.opt_out(tenant.headers(), contact_id, "email")
        assert opted.ok, opted
        assert [(item["channel"], item["source"]) for item in opted.data] == [("email", "api")]
    assert (
        await api.send(tenant.headers(), "email", "Ana@Example.com", "<p>Hi</p>")
    ).code == "recipient_opted_out"
    assert (await api.send(tenant.headers(), "sms", "+40740123111", "Hi")).ok
    assert (await api.opt_in(tenant.headers(), contact_id, "email")).data == []
    assert (await api.send(tenant.headers(), "email", "ana@example.com", "<p>Hi</p>")).ok
    assert (await api.opt_out(tenant.headers(), contact_id, "fax")).code == "validation_error"
    assert (await api.opt_out(tenant.headers(), 999_999_999, "sms")).code == "not_found"
    assert (await api.opt_out({"X-API-Key": tenant.read}, contact_id, "sms")).code == "forbidden"
