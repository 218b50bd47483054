"""Voice calls end to end in one service: the sandbox's and Twilio's (its stub) transitions reach
the call's `webhook_url` in order, each verified with the `standardwebhooks` package; the tenant's
webhooks get `call.*` events; bad callbacks are refused."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from gateway.db import Database
from gateway.tables import Integration
from tests.support.messaging import sending_tenant
from tests.support.opt_outs import twilio_signature
from tests.support.provider_stubs import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TwilioStub
from tests.support.tenants import TenantKeys
from tests.support.webhook_receiver import Receiver
from tests.support.webhook_service import register, webhook_service

CALLS = "/api/v1/integrations/calls"
CALL_STATUS = "/api/v1/providers/twilio/call-status"
ANSWERED = ["initiated", "ringing", "in-progress", "completed"]
TWILIO_VOICE = {"provider": "twilio", "account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN,
                "sender": "+14155550100"}  # fmt: skip


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory, twilio_server: TwilioStub) -> AsyncIterator[Any]:
    directory = tmp_path_factory.mktemp("calls")
    async with webhook_service(directory, twilio_api_base_url=twilio_server.url) as application:
        yield application


async def initiate(http: httpx.AsyncClient, tenant: TenantKeys, **body: Any) -> dict[str, Any]:
    response = await http.post(CALLS + "/initiate", json=body, headers=tenant.headers())
    assert response.status_code == 202, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def callbacks(receiver: Receiver, path: str, secret: str, count: int) -> list[dict[str, Any]]:
    """The bodies posted to `path` once `count` came, each verified by `standardwebhooks`."""
    found = await receiver.wait_for(path, count, seconds=20)
    return [request.verify(secret) for request in found]


async def call_secret(http: httpx.AsyncClient, tenant: TenantKeys) -> str:
    response = await http.get(CALLS + "/signing-secret", headers=tenant.headers())
    assert response.status_code == 200, response.text
    return response.json()["data"]["secret"]  # type: ignore[no-any-return]


async def wait_for_call(
    http: httpx.AsyncClient, tenant: TenantKeys, call_id: int, final: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        view = (await http.get(f"{CALLS}/{call_id}", headers=tenant.headers())).json()["data"]
        if view["status"] == final:
            return view  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.05)


async def test_a_sandbox_call_posts_each_transition_in_order_signed(
    http: httpx.AsyncClient, service: Any, receiver: Receiver
) -> None:
    tenant, _ = await sending_tenant(service.state.db)
    path = "/call-" + secrets.token_hex(4)
    call = await initiate(
        http, tenant, to="+40740111222", message="Hello & <welcome>", webhook_url=receiver.url(path)
    )
    assert call["status"] == "queued"
    secret = await call_secret(http, tenant)
    bodies = await callbacks(receiver, path, secret, len(ANSWERED))
    assert [body["data"]["status"] for body in bodies] == ANSWERED
    assert [body["type"] for body in bodies] == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    assert {body["data"]["call_id"] for body in bodies} == {call["id"]}
    view = await wait_for_call(http, tenant, call["id"], "completed")
    assert [event["status"] for event in view["events"]] == ["queued", *ANSWERED]
    assert view["provider"] == "sandbox"


async def test_the_tenants_webhooks_get_call_events(
    http: httpx.AsyncClient, service: Any, receiver: Receiver
) -> None:
    tenant, _ = await sending_tenant(service.state.db)
    path = "/voice-" + secrets.token_hex(4)
    created = await register(http, tenant, receiver.url(path), delivery_profile="voice_only")
    call = await initiate(http, tenant, to="+40740111555", message="Events too")
    bodies = await callbacks(receiver, path, created["secret"], 4)
    assert sorted(body["type"] for body in bodies) == sorted(
        ["call.initiated", "call.ringing", "call.answered", "call.completed"]
    )
    assert {body["data"]["call_id"] for body in bodies} == {call["id"]}


@pytest.mark.parametrize(("to", "final"), [("+15005550006", "busy"), ("+15005550007", "no-answer")])
async def test_busy_and_no_answer_end_the_call_as_failed(
    http: httpx.AsyncClient, service: Any, receiver: Receiver, to: str, final: str
) -> None:
    tenant, _ = await sending_tenant(service.state.db)
    path = "/call-" + secrets.token_hex(4)
    call = await initiate(http, tenant, to=to, message="Anyone there?", webhook_url=receiver.url(path))
    bodies = await callbacks(receiver, path, await call_secret(http, tenant), 3)
    assert [body["data"]["status"] for body in bodies] == ["initiated", "ringing", final]
    assert bodies[-1]["type"] == "call.failed"
    await wait_for_call(http, tenant, call["id"], final)


async def test_a_wrong_secret_does_not_verify_and_rotation_changes_it(
    http: httpx.AsyncClient, service: Any, receiver: Receiver
) -> None:
    tenant, _ = await sending_tenant(service.state.db)
    before = await call_secret(http, tenant)
    rotated = await http.post(CALLS + "/signing-secret/rotate", headers=tenant.headers())
    after = rotated.json()["data"]["secret"]
    assert after != before
    assert after.startswith("whsec_")
    path = "/call-" + secrets.token_hex(4)
    await initiate(http, tenant, to="+40740111333", message="Rotated", webhook_url=receiver.url(path))
    [first, *_] = await receiver.wait_for(path, 1, seconds=20)
    first.verify(after)
    with pytest.raises(Exception, match="No matching signature"):
        first.verify(before)


async def _twilio_tenant(db: Database) -> tuple[TenantKeys, int]:
    """A tenant with an integration whose voice goes through Twilio (the stub)."""
    tenant, _ = await sending_tenant(db)
    async with db.sessions() as session:
        integration = Integration(tenant_id=tenant.id, name="Twilio voice", channels={"voice": TWILIO_VOICE},
                                  is_default=False)  # fmt: skip
        session.add(integration)
        await session.commit()
        assert integration.id is not None
        return tenant, integration.id


async def post_call_status(
    http: httpx.AsyncClient, params: dict[str, str], token: str = TWILIO_AUTH_TOKEN
) -> httpx.Response:
    signature = twilio_signature("http://testserver" + CALL_STATUS, params, token)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return await http.post(CALL_STATUS, content=urlencode(params), headers=headers)


async def test_twilio_calls_speak_the_message_and_their_callbacks_arrive_in_order(
    http: httpx.AsyncClient, service: Any, receiver: Receiver, twilio_server: TwilioStub
) -> None:
    tenant, integration_id = await _twilio_tenant(service.state.db)
    path = "/call-" + secrets.token_hex(4)
    body = {"to": "+40740111444", "message": "Your code is <1234> & more", "voice": "alice",
            "language": "en-US", "webhook_url": receiver.url(path),
            "integration_id": integration_id}  # fmt: skip
    call = await initiate(http, tenant, **body)
    view = await wait_for_call(http, tenant, call["id"], "initiated")
    [created] = [item for item in twilio_server.calls if item["sid"] == view["provider_call_id"]]
    assert created["To"] == ["+40740111444"]
    assert created["From"] == ["+14155550100"]
    assert created["Twiml"] == [
        '<Response><Say voice="alice" language="en-US">Your code is &lt;1234&gt; &amp; more</Say></Response>'
    ]
    sid = view["provider_call_id"]
    base = {"AccountSid": TWILIO_ACCOUNT_SID, "CallSid": sid, "To": "+40740111444", "From": "+14155550100"}
    refused = await post_call_status(http, base | {"CallStatus": "completed"}, token="wrong-token")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "invalid_signature"
    for status in ("ringing", "in-progress", "completed", "ringing"):  # the last one is late: ignored
        response = await post_call_status(http, base | {"CallStatus": status})
        assert response.status_code == 200, response.text
    bodies = await callbacks(receiver, path, await call_secret(http, tenant), len(ANSWERED))
    assert [body["data"]["status"] for body in bodies] == ANSWERED
    final = await wait_for_call(http, tenant, call["id"], "completed")
    assert [event["status"] for event in final["events"]] == ["queued", *ANSWERED]


async def test_bad_input_gets_the_envelope(http: httpx.AsyncClient, service: Any) -> None:
    tenant, _ = await sending_tenant(service.state.db)
    cases = [
        ({"to": "+40740111222"}, "message"),
        ({"to": "not a phone", "message": "hi"}, "to"),
        ({"to": "+40740111222", "message": "hi", "webhook_url": "ftp://example.com/status"}, "webhook_url"),
        ({"to": "+40740111222", "message": "x" * 5000}, "message"),
        ({"to": "+40740111222", "message": "hi", "voice": "<bad>"}, "voice"),
        ({"to": "+40740111222", "message": "hi", "unknown": 1}, "unknown"),
    ]
    for body, field in cases:
        response = await http.post(CALLS + "/initiate", json=body, headers=tenant.headers())
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["error"]["fields"], (body, response.json())
    missing = await http.get(CALLS + "/999999", headers=tenant.headers())
    assert missing.status_code == 404
