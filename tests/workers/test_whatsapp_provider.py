"""WhatsApp Cloud: the provider against a stub of Meta's Graph API, and the signed webhook through
the app."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest

from tests.support.messaging import send, wait_for_status
from tests.support.provider_stubs import WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, graph_error_body
from workers.providers.base import ProviderError
from workers.providers.whatsapp_cloud import WhatsAppCloudProvider

CONFIG = {"provider": "whatsapp_cloud", "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
          "access_token": WHATSAPP_ACCESS_TOKEN, "sender": "+15550001111"}  # fmt: skip
WEBHOOK = "/api/v1/providers/whatsapp/webhook"
APP_SECRET = "a1b2c3-app-secret"


def whatsapp(outgoing, **changes: Any):
    values = {"channel": "whatsapp", "provider": "whatsapp_cloud", "config": CONFIG, "body": "Hello Ada"}
    return outgoing(**(values | changes))


async def test_sends_a_text_message(provider_settings, graph, outgoing) -> None:
    accepted = await WhatsAppCloudProvider(provider_settings).send(whatsapp(outgoing))
    [request] = graph.requests
    assert accepted.provider_message_id.startswith("wamid.")
    assert request.path == f"/v23.0/{WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {WHATSAPP_ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "14155550100",
        "type": "text",
        "text": {"preview_url": False, "body": "Hello Ada"},
    }


async def test_a_template_key_sends_that_template(provider_settings, graph, outgoing) -> None:
    provider = WhatsAppCloudProvider(provider_settings)
    config = {**CONFIG, "language": "en_US", "api_version": "v19.0"}
    message = whatsapp(outgoing, template_key="delivery_update", variables={"name": "Ada", "eta": 5},
                       config=config)  # fmt: skip
    await provider.send(message)
    request = graph.requests[0]
    assert request.path == f"/v19.0/{WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert request.json["type"] == "template"
    assert request.json["template"] == {
        "name": "delivery_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "5"}]}
        ],
    }
    await provider.send(whatsapp(outgoing, template_key="hello_world", variables={}))
    assert graph.requests[1].json["template"] == {"name": "hello_world", "language": {"code": "en"}}


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (429, 130429, True),  # throughput reached
        (400, 130429, True),  # the same, as Meta often answers it
        (400, 131056, True),  # pair rate limit
        (500, 1, True),  # unknown API error
        (503, 131016, True),  # service unavailable
        (400, 131009, False),  # parameter value is not valid
        (404, 132001, False),  # template does not exist
        (400, 131030, False),  # recipient not in the allowed list
    ],
)
async def test_error_objects_map_to_refusals(
    provider_settings, graph, outgoing, status: int, code: int, transient: bool
) -> None:
    details = {"messaging_product": "whatsapp", "details": f"details of {code}"}
    graph.fail_for["15005550001"] = (status, graph_error_body(code, f"(#{code}) error", error_data=details))
    with pytest.raises(ProviderError) as refused:
        await WhatsAppCloudProvider(provider_settings).send(whatsapp(outgoing, to="+15005550001"))
    assert (refused.value.code, refused.value.transient) == (str(code), transient)
    assert refused.value.message == f"details of {code}"


async def test_bad_tokens_and_config_are_permanent(provider_settings, graph, outgoing) -> None:
    provider = WhatsAppCloudProvider(provider_settings)
    with pytest.raises(ProviderError) as unauthorized:
        await provider.send(whatsapp(outgoing, config={**CONFIG, "access_token": "expired"}))
    assert (unauthorized.value.code, unauthorized.value.transient) == ("190", False)
    with pytest.raises(ProviderError) as incomplete:
        await provider.send(whatsapp(outgoing, config={**CONFIG, "phone_number_id": None}))
    assert (incomplete.value.code, incomplete.value.transient) == ("whatsapp_config", False)


# The webhook -----------------------------------------------------------------------------------


@pytest.fixture
def webhook_secrets(settings, monkeypatch) -> None:
    monkeypatch.setattr(settings, "whatsapp_verify_token", "verify-me-please")
    monkeypatch.setattr(settings, "whatsapp_app_secret", APP_SECRET)


def notification(*statuses: dict[str, Any]) -> bytes:
    """A webhook delivery as Meta sends it for message statuses."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550001111", "phone_number_id": WHATSAPP_PHONE_NUMBER_ID},
             "statuses": list(statuses)}  # fmt: skip
    entry = {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def status(wamid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": name, "timestamp": "1750000000", "recipient_id": "14155550100", **extra}


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


@pytest.fixture
async def whatsapp_message(tenant, sent_message) -> tuple[int, str]:
    wamid = "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI" + secrets.token_hex(8).upper() + "AA=="
    message_id = await sent_message(
        tenant_id=tenant.id, channel="whatsapp", config=CONFIG, provider_message_id=wamid
    )
    return message_id, wamid


async def test_the_subscription_challenge(client, settings, monkeypatch, webhook_secrets) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1158201444"}
    response = await client.get(WEBHOOK, params=query)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}, {"hub.verify_token": ""}):
        refused = await client.get(WEBHOOK, params=query | wrong)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    monkeypatch.setattr(settings, "whatsapp_verify_token", None)
    assert (await client.get(WEBHOOK, params=query)).status_code == 403


async def test_signed_statuses_move_the_message_to_delivered_then_read(
    client, webhook_secrets, whatsapp_message, message_state
) -> None:
    message_id, wamid = whatsapp_message
    body = notification(status(wamid, "sent"), status(wamid, "delivered"))
    response = await client.post(WEBHOOK, content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"applied": 2}}
    assert (await message_state(message_id))["status"] == "delivered"
    body = notification(status(wamid, "read"))
    assert (await client.post(WEBHOOK, content=body, headers=signed(body))).status_code == 200
    state = await message_state(message_id)
    assert state["status"] == "read"
    assert state["events"][-2:] == ["delivered", "read"]


async def test_failed_keeps_metas_error(client, webhook_secrets, whatsapp_message, message_state) -> None:
    message_id, wamid = whatsapp_message
    details = "More than 24 hours have passed since the customer last replied."
    error = {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
             "error_data": {"details": details}}  # fmt: skip
    body = notification(status(wamid, "failed", errors=[error]))
    assert (await client.post(WEBHOOK, content=body, headers=signed(body))).status_code == 200
    state = await message_state(message_id)
    assert (state["status"], state["error_code"]) == ("failed", "131047")
    assert state["error_message"].startswith("More than 24 hours")


async def test_tampered_or_unsigned_deliveries_are_refused(
    client, settings, monkeypatch, webhook_secrets, whatsapp_message, message_state
) -> None:
    message_id, wamid = whatsapp_message
    body = notification(status(wamid, "delivered"))
    tampered = notification(status(wamid, "failed"))
    attempts = [
        (tampered, signed(body)),
        (body, signed(body, secret="another-secret")),
        (body, {"Content-Type": "application/json"}),
        (body, {"X-Hub-Signature-256": signed(body)["X-Hub-Signature-256"].removeprefix("sha256=")}),
        (body, {"X-Hub-Signature-256": b"sha256=\xff\xfe"}),
    ]
    for content, headers in attempts:
        response = await client.post(WEBHOOK, content=content, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "invalid_signature"
    monkeypatch.setattr(settings, "whatsapp_app_secret", None)
    assert (await client.post(WEBHOOK, content=body, headers=signed(body))).status_code == 403
    assert (await message_state(message_id))["status"] == "sent"


async def test_a_status_ahead_of_its_send_is_applied_once_the_wamid_is_recorded(
    client, webhook_secrets, tenant, sent_message, message_state
) -> None:
    wamid = "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI" + secrets.token_hex(8).upper() + "AB=="
    body = notification(status(wamid, "delivered"))
    early = await client.post(WEBHOOK, content=body, headers=signed(body))
    assert early.json() == {"data": {"applied": 0}}
    message_id = await sent_message(
        tenant_id=tenant.id, channel="whatsapp", config=CONFIG, provider_message_id=wamid
    )
    deadline = asyncio.get_running_loop().time() + 20
    while (await message_state(message_id))["status"] != "delivered":
        assert asyncio.get_running_loop().time() < deadline, "the early status was never applied"
        await asyncio.sleep(0.1)


async def test_unknown_ids_and_odd_shapes_are_acknowledged(client, webhook_secrets) -> None:
    odd = [
        notification(status("wamid.unknown" + secrets.token_hex(8), "delivered")),
        notification(status("wamid.x", "deleted"), {"id": 5, "status": "read"}, "text", [1]),  # type: ignore[arg-type]
        notification(status("bad\u0000id", "read"), status("x" * 400, "read")),
        json.dumps({"entry": "nope"}).encode(),
        json.dumps({"entry": [{"changes": [{"value": {"statuses": {"id": "x"}}}]}]}).encode(),
        json.dumps([1, 2, 3]).encode(),
        b"{}",
    ]
    for body in odd:
        response = await client.post(WEBHOOK, content=body, headers=signed(body))
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"data": {"applied": 0}}


async def test_bad_bodies_never_fail_the_server(client, webhook_secrets) -> None:
    for body in (b"", b"{not json", b"\xff\xfe\x00", b'{"a": 1' + b"]" * 10, b"[" * 5000):
        response = await client.post(WEBHOOK, content=body, headers=signed(body))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "bad_request"


async def test_the_embedded_workers_send_a_template_and_the_webhook_reads_it(
    client, settings, monkeypatch, graph, webhook_secrets, tenant_with_channels
) -> None:
    monkeypatch.setattr(settings, "graph_api_base_url", graph.url)
    template = {"key": "order_ready", "channel": "whatsapp", "variables": ["name", "order"],
                "body": "Hi {{ name }}, order {{ order }} is ready"}  # fmt: skip
    tenant = await tenant_with_channels({"whatsapp": CONFIG}, template)
    accepted = await send(client, tenant, channel="whatsapp", to="+40740111222", template_key="order_ready",
                          variables={"name": "Ada", "order": "A-17"})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["data"]["id"]
    view = await wait_for_status(client, tenant, message_id, {"sent", "failed"})
    assert view["status"] == "sent", view
    [request] = graph.requests
    assert request.json["to"] == "40740111222"
    parameters = request.json["template"]["components"][0]["parameters"]
    assert [parameter["text"] for parameter in parameters] == ["Ada", "A-17"]
    body = notification(status(view["provider_message_id"], "read"))
    assert (await client.post(WEBHOOK, content=body, headers=signed(body))).json() == {"data": {"applied": 1}}
    assert (await wait_for_status(client, tenant, message_id, {"read"}))["status"] == "read"
