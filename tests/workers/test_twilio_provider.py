"""Twilio: the provider against a stub of the Messages resource, and signed status callbacks
through the app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest

from resolvers.message_status import MessageStatus
from tests.support.messaging import send, wait_for_status
from tests.support.provider_stubs import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, twilio_error_body
from tests.support.server import free_port
from workers.providers.base import ProviderError, Receipt
from workers.providers.twilio import TwilioProvider

SENDER = "+15017122661"
CONFIG = {"provider": "twilio", "account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN,
          "sender": SENDER}  # fmt: skip
CALLBACK = "/api/v1/providers/twilio/status"


def sms(outgoing, **changes: Any):
    values = {"provider": "twilio", "sender": SENDER, "config": CONFIG, "body": "Your code is 1234"}
    return outgoing(**(values | changes))


async def test_creates_a_message_resource(provider_settings, twilio, outgoing) -> None:
    accepted = await TwilioProvider(provider_settings).send(sms(outgoing))
    [request] = twilio.requests
    assert accepted.provider_message_id.startswith("SM")
    assert len(accepted.provider_message_id) == 34
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    assert request.form == {
        "To": "+14155550100",
        "From": SENDER,
        "Body": "Your code is 1234",
        "StatusCallback": "https://gw.example.com" + CALLBACK,
    }
    expected = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"


async def test_a_messaging_service_picks_the_sender(provider_settings, twilio, outgoing) -> None:
    config = {**CONFIG, "sender": None, "messaging_service_sid": "MG9752274e9e519418a7406176694466fa"}
    await TwilioProvider(provider_settings).send(sms(outgoing, sender=None, config=config))
    form = twilio.requests[0].form
    assert form["MessagingServiceSid"] == config["messaging_service_sid"]
    assert "From" not in form


async def test_the_platform_route_uses_the_platform_account(provider_settings, twilio, outgoing) -> None:
    settings = provider_settings.model_copy(
        update={"twilio_account_sid": TWILIO_ACCOUNT_SID, "twilio_auth_token": TWILIO_AUTH_TOKEN}
    )
    message = sms(outgoing, route="platform", integration_id=None, config={"provider": "twilio"})
    assert (await TwilioProvider(settings).send(message)).provider_message_id.startswith("SM")


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [(400, 21211, False), (400, 21610, False), (429, 20429, True), (500, 20500, True), (503, 20503, True)],
)
async def test_error_resources_map_to_refusals(
    provider_settings, twilio, outgoing, status: int, code: int, transient: bool
) -> None:
    twilio.fail_for["+15005550001"] = (status, twilio_error_body(status, code, f"error {code}"))
    with pytest.raises(ProviderError) as refused:
        await TwilioProvider(provider_settings).send(sms(outgoing, to="+15005550001"))
    assert (refused.value.code, refused.value.transient) == (str(code), transient)
    assert refused.value.message == f"error {code}"


async def test_bad_credentials_and_config_are_permanent(provider_settings, twilio, outgoing) -> None:
    provider = TwilioProvider(provider_settings)
    with pytest.raises(ProviderError) as unauthorized:
        await provider.send(sms(outgoing, config={**CONFIG, "auth_token": "wrong"}))
    assert (unauthorized.value.code, unauthorized.value.transient) == ("20003", False)
    for config in ({**CONFIG, "auth_token": None}, {**CONFIG, "account_sid": ""}):
        with pytest.raises(ProviderError) as incomplete:
            await provider.send(sms(outgoing, config=config))
        assert (incomplete.value.code, incomplete.value.transient) == ("twilio_config", False)
    assert twilio.requests == []


async def test_an_unreachable_api_is_transient(provider_settings, outgoing) -> None:
    settings = provider_settings.model_copy(update={"twilio_api_base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ProviderError) as refused:
        await TwilioProvider(settings).send(sms(outgoing))
    assert (refused.value.code, refused.value.transient) == ("twilio_unavailable", True)


async def test_a_lost_callback_is_made_up_for_by_reading_the_message_back(
    provider_settings, twilio, outgoing
) -> None:
    provider = TwilioProvider(provider_settings)
    message = sms(outgoing)
    sid = (await provider.send(message)).provider_message_id
    assert await provider.fetch_status(message, sid) is None  # still queued
    twilio.messages[sid] |= {
        "status": "undelivered",
        "error_code": 30005,
        "error_message": "Unknown destination",
    }
    receipt = await provider.fetch_status(message, sid)
    assert receipt == Receipt(MessageStatus.UNDELIVERED, "30005", "Unknown destination")
    twilio.messages[sid] |= {"status": "delivered", "error_code": None, "error_message": None}
    assert await provider.fetch_status(message, sid) == Receipt(MessageStatus.DELIVERED)
    assert await provider.fetch_status(message, "SM" + "0" * 32) is None
    with pytest.raises(ProviderError) as refused:
        await provider.fetch_status(sms(outgoing, config={**CONFIG, "auth_token": "rotated"}), sid)
    assert (refused.value.code, refused.value.transient) == ("20003", False)


# Status callbacks ------------------------------------------------------------------------------


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> str:
    """As Twilio documents it: the URL, then each POST parameter sorted by name as name+value,
    HMAC-SHA1 keyed by the AuthToken, base64."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": TWILIO_ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": SENDER,
            "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status,
            "To": "+14155550100", **extra}  # fmt: skip


async def post_callback(client, params: dict[str, str], signature: str | bytes | None, url: str = CALLBACK):
    headers: dict[str, str | bytes] = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await client.post(url, content=urlencode(params), headers=headers)


@pytest.fixture
async def twilio_message(tenant, sent_message) -> tuple[int, str]:
    sid = "SM" + secrets.token_hex(16)
    return await sent_message(tenant_id=tenant.id, channel="sms", config=CONFIG, provider_message_id=sid), sid


async def test_a_signed_callback_moves_the_message_to_delivered(
    client, twilio_message, message_state
) -> None:
    message_id, sid = twilio_message
    for status in ("sent", "delivered"):
        params = callback(sid, status)
        response = await post_callback(
            client, params, twilio_signature("http://testserver" + CALLBACK, params)
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"applied": True}}
    state = await message_state(message_id)
    assert state["status"] == "delivered"
    assert state["events"][-1] == "delivered"
    assert state["events"].count("delivered") == 1


async def test_undelivered_keeps_twilios_error_code(client, twilio_message, message_state) -> None:
    message_id, sid = twilio_message
    params = callback(sid, "undelivered", ErrorCode="30005")
    response = await post_callback(client, params, twilio_signature("http://testserver" + CALLBACK, params))
    assert response.status_code == 200
    state = await message_state(message_id)
    assert (state["status"], state["error_code"]) == ("undelivered", "30005")


async def test_tampered_or_unsigned_callbacks_are_refused(client, twilio_message, message_state) -> None:
    message_id, sid = twilio_message
    params = callback(sid, "delivered")
    signature = twilio_signature("http://testserver" + CALLBACK, params)
    attempts = [
        ({**params, "MessageStatus": "failed"}, signature),
        (params, twilio_signature("http://testserver" + CALLBACK, params, token="another-token")),
        (params, twilio_signature("http://testserver/elsewhere", params)),
        (params, None),
        (params, "not base64 at all: ü".encode("latin-1")),
    ]
    for form, header in attempts:
        response = await post_callback(client, form, header)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "invalid_signature"
    assert (await message_state(message_id))["status"] == "sent"


async def test_behind_a_proxy_the_public_url_is_signed(
    client, settings, monkeypatch, provider_settings, twilio, outgoing, tenant, sent_message, message_state
) -> None:
    monkeypatch.setattr(settings, "public_base_url", "https://gw.example.com")
    accepted = await TwilioProvider(provider_settings).send(sms(outgoing))
    message_id = await sent_message(
        tenant_id=tenant.id, channel="sms", config=CONFIG, provider_message_id=accepted.provider_message_id
    )
    status_callback = twilio.requests[0].form["StatusCallback"]
    params = callback(accepted.provider_message_id, "delivered")
    seen_url = await post_callback(client, params, twilio_signature("http://testserver" + CALLBACK, params))
    assert seen_url.status_code == 403
    response = await post_callback(client, params, twilio_signature(status_callback, params))
    assert response.status_code == 200, response.text
    assert (await message_state(message_id))["status"] == "delivered"


async def test_unknown_messages_are_acknowledged(client) -> None:
    params = callback("SM" + secrets.token_hex(16), "delivered")
    response = await post_callback(client, params, "whatever")
    assert response.json() == {"data": {"applied": False}}


async def test_a_callback_ahead_of_its_send_is_applied_once_the_sid_is_recorded(
    client, tenant, sent_message, message_state
) -> None:
    """The callback overtook the commit of the send that returned its sid: it is looked at again."""
    sid = "SM" + secrets.token_hex(16)
    params = callback(sid, "delivered")
    early = await post_callback(client, params, twilio_signature("http://testserver" + CALLBACK, params))
    assert early.json() == {"data": {"applied": False}}
    message_id = await sent_message(
        tenant_id=tenant.id, channel="sms", config=CONFIG, provider_message_id=sid
    )
    deadline = asyncio.get_running_loop().time() + 20
    while (await message_state(message_id))["status"] != "delivered":
        assert asyncio.get_running_loop().time() < deadline, "the early callback was never applied"
        await asyncio.sleep(0.1)


async def test_bad_input_never_fails_the_server(client) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ({"Content-Type": "application/json"}, b'{"MessageSid": "SM1"}', 400),
        (headers, b"", 400),
        (headers, b"%%%&&&===", 400),
        (headers, b"MessageSid=SM%00%ff&MessageStatus=delivered", 200),
        (headers, b"MessageSid=" + b"S" * 500, 200),
        (headers, "&".join(f"k{i}=v" for i in range(500)).encode(), 400),
        (headers, b"\xff\xfe\x00garbage", 400),
    ]
    for case_headers, body, status in cases:
        response = await client.post(CALLBACK, content=body, headers=case_headers)
        assert response.status_code == status, (body, response.text)
        assert ("error" in response.json()) == (status >= 400)


async def test_the_embedded_workers_send_through_twilio_and_the_callback_delivers(
    client, settings, monkeypatch, twilio, tenant_with_channels
) -> None:
    monkeypatch.setattr(settings, "twilio_api_base_url", twilio.url)
    monkeypatch.setattr(settings, "public_base_url", "https://gw.example.com")
    tenant = await tenant_with_channels({"sms": CONFIG})
    accepted = await send(client, tenant, channel="sms", to="+40740111222", body="Your code is 1234")
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["data"]["id"]
    view = await wait_for_status(client, tenant, message_id, {"sent", "failed"})
    assert view["status"] == "sent", view
    [request] = twilio.requests
    assert (request.form["To"], request.form["From"]) == ("+40740111222", SENDER)
    assert view["provider_message_id"] in twilio.messages
    params = callback(view["provider_message_id"], "delivered")
    signature = twilio_signature(request.form["StatusCallback"], params)
    assert (await post_callback(client, params, signature)).status_code == 200
    assert (await wait_for_status(client, tenant, message_id, {"delivered"}))["status"] == "delivered"
