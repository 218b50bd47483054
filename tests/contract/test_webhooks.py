"""The webhooks contract, each case over REST and over GraphQL, on the service with the SSRF guard on."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import Settings
from resolvers.errors import ValidationFailed
from resolvers.webhook_catalog import PROFILES
from resolvers.webhooks import check_target
from tests.support.tenants import TenantKeys
from tests.support.webhook_twins import GraphQLWebhooks, RestWebhooks

Api = RestWebhooks | GraphQLWebhooks
TARGET = "https://example.com/webhooks/weconn"  # never resolves here: accepted, checked at each delivery
REQUIRED_EVENTS = {
    *(f"message.{status}" for status in ("queued", "sent", "delivered", "undelivered", "failed", "read")),
    *(f"call.{status}" for status in ("initiated", "ringing", "answered", "completed", "failed")),
    *(f"campaign.{status}" for status in ("scheduled", "started", "completed", "cancelled")),
    *(f"contact.{change}" for change in ("created", "updated", "deleted", "opted_out")),
    "webhook.disabled",
}
REQUIRED_PROFILES = {"all", "sms_only", "email_only", "whatsapp_only", "voice_only", "final_status_only",
                     "failures_only", "campaigns"}  # fmt: skip
# Every spelling of a non-public address the guard must refuse at registration.
UNSAFE_URLS = [
    "http://127.0.0.1/hook", "http://localhost/hook", "http://127.1/hook", "http://0x7f000001/hook",
    "http://2130706433/hook", "http://0177.0.0.1/hook", "http://017700000001/hook", "http://0x7f.1/hook",
    "http://127.0.0.1./hook", "http://0.0.0.0/hook", "http://0/hook", "http://[::]/hook", "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://[::ffff:7f00:1]/hook", "http://[::127.0.0.1]/hook",
    "http://[2002:7f00:1::]/hook", "http://10.0.0.1/hook", "http://172.16.5.4/hook", "http://192.168.1.1/hook",
    "http://100.64.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/hook",
    "http://[fe80::1]/hook", "http://[fe80::1%25eth0]/hook", "http://[fc00::1]/hook", "http://224.0.0.1/hook",
    "http://[ff02::1]/hook", "http://240.0.0.1/hook", "http://198.18.0.1/hook",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",  # 127.0.0.1 in full-width digits
    "ftp://example.com/hook", "file:///etc/passwd", "http://user:pass@example.com/hook",
]  # fmt: skip


@pytest.fixture(params=["rest", "graphql"])
def webhooks_api(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Api:
    return RestWebhooks(client) if request.param == "rest" else GraphQLWebhooks(client)


async def test_register_shows_the_secret_once(webhooks_api: Api, tenant: TenantKeys) -> None:
    body = {"url": TARGET, "delivery_profile": "sms_only", "description": "Production webhook"}
    created = await webhooks_api.create(tenant.headers(), body)
    assert created.ok, created
    hook = created.data
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) == 32
    assert (hook["url"], hook["description"], hook["status"]) == (TARGET, "Production webhook", "enabled")
    assert hook["delivery_profile"] == "sms_only"
    assert hook["channel"] == "sms"
    assert hook["events"] == list(PROFILES["sms_only"].events)
    listed = await webhooks_api.list(tenant.headers(tenant.read))
    assert listed.ok, listed
    [shown] = listed.data["items"]
    assert shown == {name: value for name, value in hook.items() if name != "secret"}
    assert listed.data["total"] == 1


async def test_explicit_events_or_every_event(webhooks_api: Api, tenant: TenantKeys) -> None:
    chosen = await webhooks_api.create(
        tenant.headers(), {"url": TARGET, "events": ["message.failed", "contact.created"]}
    )
    assert chosen.ok, chosen
    assert (chosen.data["delivery_profile"], chosen.data["events"]) == (
        None,
        ["message.failed", "contact.created"],
    )
    everything = await webhooks_api.create(tenant.headers(), {"url": TARGET})
    assert everything.data["delivery_profile"] == "all"
    assert set(everything.data["events"]) >= REQUIRED_EVENTS
    assert "webhook.test" not in everything.data["events"]  # sent only when asked for


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": TARGET, "delivery_profile": "sms_and_more"}, "delivery_profile"),
        ({"url": TARGET, "events": ["message.exploded"]}, "events"),
        ({"url": TARGET, "events": []}, "events"),
        ({"url": TARGET, "events": ["message.sent"], "delivery_profile": "all"}, "body"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://" + "a" * 2050 + ".com"}, "url"),
    ],
)
async def test_invalid_registrations_are_422(
    webhooks_api: Api, tenant: TenantKeys, body: dict, field: str
) -> None:
    outcome = await webhooks_api.create(tenant.headers(), body)
    assert outcome.code == "validation_error", outcome
    assert field in outcome.fields, outcome


@pytest.mark.parametrize("url", UNSAFE_URLS)
async def test_the_ssrf_guard_refuses_every_internal_address_form(
    webhooks_api: Api, tenant: TenantKeys, url: str
) -> None:
    outcome = await webhooks_api.create(tenant.headers(), {"url": url, "delivery_profile": "all"})
    assert outcome.code == "validation_error", (url, outcome)
    assert "url" in outcome.fields, outcome


async def test_public_addresses_are_accepted(webhooks_api: Api, tenant: TenantKeys) -> None:
    for url in ("https://93.184.215.14/hook", "https://[2606:4700::1111]/hook", "http://8.8.8.8:8080/x"):
        outcome = await webhooks_api.create(tenant.headers(), {"url": url})
        assert outcome.ok, (url, outcome)


async def test_events_catalog_names_every_event_and_profile(webhooks_api: Api, tenant: TenantKeys) -> None:
    outcome = await webhooks_api.catalog(tenant.headers(tenant.read))
    assert outcome.ok, outcome
    events = {event["name"]: event for event in outcome.data["events"]}
    assert set(events) >= REQUIRED_EVENTS
    for name, event in events.items():
        assert event["description"]
        assert event["example"]["type"] == name
        assert set(event["example"]) == {"type", "timestamp", "data"}
    profiles = {profile["name"]: profile for profile in outcome.data["profiles"]}
    assert set(profiles) == REQUIRED_PROFILES
    assert all(set(profile["events"]) <= set(events) for profile in profiles.values())
    assert profiles["sms_only"]["channel"] == "sms"
    assert "message.delivered" in profiles["final_status_only"]["events"]
    assert "message.queued" not in profiles["final_status_only"]["events"]


async def test_scopes_and_tenancy(webhooks_api: Api, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    assert (await webhooks_api.create(tenant.headers(tenant.read), {"url": TARGET})).code == "forbidden"
    assert (await webhooks_api.catalog(tenant.headers(tenant.send))).code == "forbidden"
    hook = (await webhooks_api.create(tenant.headers(tenant.write), {"url": TARGET})).data
    assert (await webhooks_api.delete(other_tenant.headers(), hook["id"])).code == "not_found"
    assert (await webhooks_api.rotate(other_tenant.headers(), hook["id"])).code == "not_found"
    assert (await webhooks_api.deliveries(other_tenant.headers(), hook["id"])).code == "not_found"
    assert (await webhooks_api.list(other_tenant.headers())).data["items"] == []
    deleted = await webhooks_api.delete(tenant.headers(tenant.write), hook["id"])
    assert deleted.data == {"id": hook["id"], "deleted": True}
    assert (await webhooks_api.delete(tenant.headers(), hook["id"])).code == "not_found"
    assert (await webhooks_api.list(tenant.headers())).data["items"] == []


async def test_rotation_shows_a_new_secret_once(webhooks_api: Api, tenant: TenantKeys) -> None:
    hook = (await webhooks_api.create(tenant.headers(), {"url": TARGET})).data
    rotated = await webhooks_api.rotate(tenant.headers(), hook["id"])
    assert rotated.ok, rotated
    assert rotated.data["secret"].startswith("whsec_")
    assert rotated.data["secret"] != hook["secret"]


async def test_a_test_event_is_attempted_and_every_attempt_is_listed(
    webhooks_api: Api, tenant: TenantKeys
) -> None:
    """example.com does not resolve here: the attempt fails, and says why."""
    hook = (await webhooks_api.create(tenant.headers(), {"url": TARGET})).data
    sent = await webhooks_api.test(tenant.headers(), hook["id"])
    assert sent.ok, sent
    assert sent.data["event_type"] == "webhook.test"
    assert sent.data["webhook_id"].startswith("msg_")
    assert sent.data["payload"]["type"] == "webhook.test"
    deadline = time.monotonic() + 10
    while True:
        listed = await webhooks_api.deliveries(tenant.headers(tenant.read), hook["id"])
        [delivery] = listed.data["items"]
        if delivery["attempts"]:
            break
        assert time.monotonic() < deadline, delivery
        await asyncio.sleep(0.05)
    [attempt] = delivery["attempts"][:1]
    assert attempt["status_code"] is None
    assert "example.com" in attempt["error"]
    assert delivery["status"] == "pending"  # the next attempt is scheduled
    assert delivery["next_attempt_at"] is not None
    again = await webhooks_api.redeliver(tenant.headers(), hook["id"], delivery["id"])
    assert again.ok, again
    assert again.data["webhook_id"] == delivery["webhook_id"]
    assert again.data["id"] != delivery["id"]
    filtered = await webhooks_api.deliveries(tenant.headers(), hook["id"], status="succeeded")
    assert filtered.data["items"] == []
    bad = await webhooks_api.deliveries(tenant.headers(), hook["id"], status="lost")
    assert bad.code == "validation_error"
    await webhooks_api.delete(tenant.headers(), hook["id"])


async def test_production_requires_https_and_refuses_allow_private(settings: Settings) -> None:
    production = Settings(env="production", secret_key="x" * 40, database_url=settings.database_url)
    with pytest.raises(ValidationFailed) as refused:
        await check_target(production, "http://example.com/hook")
    assert "https://" in refused.value.fields["url"][0]
    await check_target(production, "https://example.com/hook")
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_PRIVATE"):
        Settings(env="production", secret_key="x" * 40, webhook_allow_private=True)
    await check_target(settings.model_copy(update={"webhook_allow_private": True}), "http://127.0.0.1:9/x")
