"""Webhook deliveries to a real receiving server, each verified with the `standardwebhooks` package
from PyPI (not our code): signed lifecycles, retries on a compressed schedule, 410, redirects, SSRF."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update
from standardwebhooks import Webhook, WebhookVerificationError

from gateway.db import Database
from resolvers.webhook_dispatch import CURSORS
from resolvers.webhook_events import delivery_row, event_body
from resolvers.webhook_records import DELIVERIES
from resolvers.webhook_signing import signed_headers
from tests.support.messaging import send, sending_tenant, wait_for_status
from tests.support.tenants import TenantKeys, new_tenant
from tests.support.webhook_receiver import Receiver
from tests.support.webhook_service import (
    API,
    deliveries,
    endpoint,
    register,
    settled_delivery,
)
from workers.webhook_actors import deliver
from workers.webhook_dispatcher import run_webhook_dispatcher

LIFECYCLE = {"message.queued", "message.sent", "message.delivered"}


def verify(body: bytes, headers: dict[str, str], secret: str) -> Any:
    return Webhook(secret).verify(body, headers)


@pytest.fixture
def service_db(service: Any) -> Database:
    return service.state.db  # type: ignore[no-any-return]


async def test_a_message_lifecycle_arrives_signed_once_per_webhook_id(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant, _ = await sending_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/life"), delivery_profile="sms_only")
    email = await register(http, tenant, receiver.url("/life-email"), delivery_profile="email_only")
    accepted = await send(http, tenant, channel="sms", to="+40740111222", body="Hello")
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["data"]["id"]

    arrived = await receiver.wait_for("/life", 3)
    await asyncio.sleep(0.5)  # anything more (a duplicate) would arrive by now
    arrived = receiver.at("/life")
    bodies = [request.verify(hook["secret"]) for request in arrived]
    assert {body["type"] for body in bodies} == LIFECYCLE
    assert len({request.webhook_id for request in arrived}) == len(arrived) == 3
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"]["message_id"] == message_id
        assert body["data"]["status"] == body["type"].removeprefix("message.")
        assert body["data"]["channel"] == "sms"
    assert all(request.webhook_id.startswith("msg_") for request in arrived)
    assert receiver.at("/life-email") == []  # another profile's channel
    # Each endpoint has its own secret: the other one's does not verify.
    with pytest.raises(WebhookVerificationError):
        arrived[0].verify(email["secret"])


async def test_tampered_stale_and_wrongly_keyed_deliveries_are_rejected(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/tamper"))
    sent = await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())
    assert sent.status_code == 202, sent.text
    [request] = await receiver.wait_for("/tamper", 1)
    assert request.verify(hook["secret"])["type"] == "webhook.test"

    tampered = request.body.replace(b"test event", b"TEST EVENT")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(tampered, request.headers, hook["secret"])
    stale = int(time.time()) - 600  # signed with the right secret, ten minutes ago
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(request.body, signed_headers([hook["secret"]], request.webhook_id, stale, request.body),
                        hook["secret"])  # fmt: skip
    other = await register(http, tenant, receiver.url("/tamper-other"))
    with pytest.raises(WebhookVerificationError, match="signature"):
        request.verify(other["secret"])


async def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/flaky"))
    receiver.script("/flaky", 500, 502, 503)
    test = (await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())).json()["data"]
    requests = await receiver.wait_for("/flaky", 4)
    assert len({request.webhook_id for request in requests}) == 1  # stable across retries
    for request in requests:
        assert request.verify(hook["secret"])["type"] == "webhook.test"
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    assert all(gap >= 0.15 for gap in gaps), gaps  # 200 ms, less at most 10% jitter
    delivery = await settled_delivery(http, tenant, hook["id"], test["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 4
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 502, 503, 200]
    assert [attempt["response"] for attempt in delivery["attempts"]][-1] == "answered 200"
    assert all(attempt["duration_ms"] >= 0 for attempt in delivery["attempts"])
    assert (await endpoint(http, tenant, hook["id"]))["status"] == "enabled"


async def test_an_endpoint_answering_410_is_disabled_at_once(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    watcher = await register(http, tenant, receiver.url("/watch-410"), events=["webhook.disabled"])
    gone = await register(http, tenant, receiver.url("/gone"))
    receiver.script("/gone", 410)
    test = (await http.post(f"{API}/{gone['id']}/test", headers=tenant.headers())).json()["data"]
    delivery = await settled_delivery(http, tenant, gone["id"], test["id"])
    assert delivery["status"] == "failed"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [410]
    shown = await endpoint(http, tenant, gone["id"])
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"]
    [notice] = await receiver.wait_for("/watch-410", 1)
    body = notice.verify(watcher["secret"])
    assert body["type"] == "webhook.disabled"
    assert body["data"]["endpoint_id"] == gone["id"]
    await asyncio.sleep(0.5)
    assert len(receiver.at("/gone")) == 1
    again = await http.post(f"{API}/{gone['id']}/test", headers=tenant.headers())
    assert again.status_code == 409
    enabled = await http.post(f"{API}/{gone['id']}/enable", headers=tenant.headers())
    assert enabled.json()["data"]["status"] == "enabled"


async def test_a_redirect_to_an_internal_address_is_not_followed(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/moved"))
    receiver.redirects["/moved"] = receiver.url("/internal")
    test = (await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())).json()["data"]
    delivery = await settled_delivery(http, tenant, hook["id"], test["id"])
    assert delivery["status"] == "exhausted"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [302] * 5
    assert "not followed" in delivery["attempts"][0]["error"]
    assert len(receiver.at("/moved")) == 5
    assert receiver.at("/internal") == []


async def test_a_host_resolving_to_a_private_address_is_refused_at_delivery(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver, service: Any
) -> None:
    """Registered while private targets were allowed; the guard of the delivery has them off."""
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/private", host="localhost"))
    delivery_id = await _pending_delivery(service_db, tenant, hook["id"])
    guarded = service.state.settings.model_copy(
        update={"webhook_allow_private": False, "webhook_retry_schedule": "0"}
    )
    outcome = await deliver(service_db, guarded, service.state.services.queue, delivery_id)
    assert outcome is not None
    assert outcome.status_code is None
    assert "SSRF" in (outcome.error or "")
    assert "127.0.0.1" in (outcome.error or "") or "::1" in (outcome.error or "")
    assert receiver.at("/private") == []
    [shown] = [item for item in await deliveries(http, tenant, hook["id"]) if item["id"] == delivery_id]
    assert shown["status"] == "exhausted"
    assert "SSRF" in shown["attempts"][0]["error"]


async def test_failing_every_attempt_for_the_limit_disables_and_emits_webhook_disabled(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver, service: Any
) -> None:
    tenant = await new_tenant(service_db)
    watcher = await register(http, tenant, receiver.url("/watch-limit"), delivery_profile="failures_only")
    broken = await register(http, tenant, receiver.url("/broken"))
    receiver.script("/broken", 500)
    delivery_id = await _pending_delivery(service_db, tenant, broken["id"])
    impatient = service.state.settings.model_copy(update={"webhook_disable_after_seconds": 0})
    outcome = await deliver(service_db, impatient, service.state.services.queue, delivery_id)
    assert outcome is not None
    assert outcome.status_code == 500
    shown = await endpoint(http, tenant, broken["id"])
    assert shown["status"] == "disabled"
    assert "every attempt failed since" in shown["disabled_reason"]
    [notice] = await receiver.wait_for("/watch-limit", 1)
    assert notice.verify(watcher["secret"])["data"]["endpoint_id"] == broken["id"]


async def test_a_rotated_secret_and_the_old_one_both_verify_for_the_overlap(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/rotate"))
    rotated = (await http.post(f"{API}/{hook['id']}/rotate-secret", headers=tenant.headers())).json()["data"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != hook["secret"]
    await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())
    [request] = await receiver.wait_for("/rotate", 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verify(rotated["secret"])["type"] == "webhook.test"
    assert request.verify(hook["secret"])["type"] == "webhook.test"


async def test_redeliver_sends_the_same_event_again(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/again"))
    test = (await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())).json()["data"]
    await settled_delivery(http, tenant, hook["id"], test["id"])
    again = await http.post(f"{API}/{hook['id']}/deliveries/{test['id']}/redeliver", headers=tenant.headers())
    assert again.status_code == 202, again.text
    assert again.json()["data"]["webhook_id"] == test["webhook_id"]
    first, second = await receiver.wait_for("/again", 2)
    assert first.webhook_id == second.webhook_id == test["webhook_id"]
    assert first.verify(hook["secret"]) == second.verify(hook["secret"])


async def _pending_delivery(db: Database, tenant: TenantKeys, endpoint_id: int) -> int:
    """A due delivery written directly (nothing enqueued), for a test to deliver in process."""
    now = datetime.now(UTC)
    body = event_body("webhook.test", now, {"endpoint_id": endpoint_id})
    async with db.writing() as connection:
        statement = insert(DELIVERIES).values(delivery_row(tenant.id, endpoint_id, body, now, 0))
        return int((await connection.execute(statement.returning(DELIVERIES.c.id))).scalar_one())


async def test_contact_changes_arrive_as_events(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    events = ["contact.created", "contact.updated", "contact.deleted"]
    hook = await register(http, tenant, receiver.url("/contacts"), events=events)
    contacts = "/api/v1/integrations/contacts"
    created = await http.post(
        contacts, json={"name": "Ana", "phone": "+40740111333"}, headers=tenant.headers()
    )
    contact_id = created.json()["data"]["id"]
    await http.put(f"{contacts}/{contact_id}", json={"tags": ["vip"]}, headers=tenant.headers())
    await http.delete(f"{contacts}/{contact_id}", headers=tenant.headers())
    bodies = [request.verify(hook["secret"]) for request in await receiver.wait_for("/contacts", 3)]
    by_type = {body["type"]: body["data"] for body in bodies}
    assert set(by_type) == set(events)
    assert by_type["contact.created"]["phone"] == "+40740111333"
    assert by_type["contact.updated"]["tags"] == ["vip"]
    assert by_type["contact.deleted"] == {"id": contact_id}


async def test_campaign_lifecycle_events(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant, _ = await sending_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/campaigns"), delivery_profile="campaigns")
    campaigns = "/api/v1/integrations/campaigns"
    body = {"name": "Spring", "channel": "sms", "message_template": "Hi {{ name }}", "tags": ["nobody"]}
    soon, later = [
        (await http.post(campaigns, json=body, headers=tenant.headers())).json()["data"] for _ in "ab"
    ]
    start_at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    scheduled = await http.post(
        f"{campaigns}/{soon['id']}/send", json={"scheduled_at": start_at}, headers=tenant.headers()
    )
    assert scheduled.status_code == 202, scheduled.text
    next_year = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await http.post(
        f"{campaigns}/{later['id']}/send", json={"scheduled_at": next_year}, headers=tenant.headers()
    )
    await http.post(f"{campaigns}/{later['id']}/cancel", headers=tenant.headers())
    bodies = [request.verify(hook["secret"]) for request in await receiver.wait_for("/campaigns", 5)]
    seen = sorted((body["data"]["id"], body["type"]) for body in bodies)
    assert seen == sorted([  # the tag matches nobody: `soon` completes as soon as it starts
        (soon["id"], "campaign.scheduled"), (soon["id"], "campaign.started"),
        (soon["id"], "campaign.completed"),
        (later["id"], "campaign.scheduled"), (later["id"], "campaign.cancelled"),
    ])  # fmt: skip


async def test_competing_dispatchers_create_each_delivery_once(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver, service: Any
) -> None:
    """Three dispatchers (the service's and two more) whose leases keep being taken away from them."""
    tenant, _ = await sending_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/race"), delivery_profile="sms_only")
    stop = asyncio.Event()
    settings, queue = service.state.settings, service.state.services.queue
    rivals = [
        asyncio.create_task(run_webhook_dispatcher(service_db, queue, settings, stop)) for _ in range(2)
    ]

    async def steal_leases() -> None:
        """Leases always lapsed: every dispatcher reads the same pages and races the cursor's move."""
        while not stop.is_set():
            async with service_db.writing() as connection:
                await connection.execute(
                    update(CURSORS).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            await asyncio.sleep(0.03)

    thief = asyncio.create_task(steal_leases())
    try:
        for index in range(20):
            accepted = await send(http, tenant, channel="sms", to=f"+4074011{index:04d}", body="Hi")
            assert accepted.status_code == 202, accepted.text
        await receiver.wait_for("/race", 60, seconds=30)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(thief, *rivals)
    bodies = [request.verify(hook["secret"]) for request in receiver.at("/race")]
    assert len(bodies) == 60
    assert len({(body["data"]["message_id"], body["type"]) for body in bodies}) == 60


async def test_slow_receivers_do_not_hold_up_sends(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver, service: Any
) -> None:
    """Three times more slow attempts than worker threads all run at once, and a send goes through."""
    tenant, _ = await sending_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/slow"), events=["webhook.test"])
    attempts = 3 * service.state.settings.embedded_worker_threads
    for _ in range(attempts):
        assert (await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())).status_code == 202
    await receiver.wait_for("/slow", attempts, seconds=1.5)  # each takes 2 s: none holds a thread
    accepted = await send(http, tenant, channel="sms", to="+40740111444", body="Meanwhile")
    started = time.monotonic()
    view = await wait_for_status(http, tenant, accepted.json()["data"]["id"], {"delivered"}, seconds=5)
    assert view["status"] == "delivered"
    assert time.monotonic() - started < 1.5
    deadline = time.monotonic() + 10
    while {item["status"] for item in await deliveries(http, tenant, hook["id"])} != {"succeeded"}:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_an_attempt_keeps_the_first_kilobyte_of_the_answer(
    http: httpx.AsyncClient, service_db: Database, receiver: Receiver
) -> None:
    tenant = await new_tenant(service_db)
    hook = await register(http, tenant, receiver.url("/big"))
    receiver.script("/big", 500)
    test = (await http.post(f"{API}/{hook['id']}/test", headers=tenant.headers())).json()["data"]
    delivery = await settled_delivery(http, tenant, hook["id"], test["id"])
    failed, succeeded = delivery["attempts"]
    assert (failed["status_code"], succeeded["status_code"]) == (500, 200)
    assert failed["response"] == "é" * 512  # 1,024 bytes of the 6,000
    assert delivery["last_error"] is None
