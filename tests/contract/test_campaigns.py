"""Campaigns over REST on the in-process service with its embedded workers and scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select

from gateway.db import Database
from gateway.tables import OptOut
from gateway.tables.columns import table_of
from resolvers.message_store import MESSAGES
from tests.support.campaigns import (
    API,
    add_contacts,
    adds_up,
    create,
    direct_counts,
    status,
    wait_for,
    wait_until_settled,
)
from tests.support.messaging import sending_tenant
from tests.support.tenants import TenantKeys

OPT_OUTS = table_of(OptOut)
SPRING_SALE = {
    "name": "Spring Sale",
    "channel": "email",
    "message_template": "<h1>Spring Sale, {{ name }}!</h1><p>50% off today only.</p>",
    "subject": "Spring Sale - 50% Off",
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_send_now_reaches_every_eligible_contact_once(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    reachable = await add_contacts(db, tenant.id, 25, prefix="sale")
    await add_contacts(db, tenant.id, 3, prefix="nomail", email=False, phone=True)  # no email: skipped
    async with db.writing() as connection:  # one opted out of email: skipped
        await connection.execute(
            insert(OPT_OUTS).values(
                tenant_id=tenant.id,
                channel="email",
                address="sale-3@example.com",
                created_at=datetime.now(UTC),
            )
        )
    campaign = await create(client, tenant, **SPRING_SALE)
    assert campaign["status"] == "draft"
    assert campaign["audience"] == {"type": "all"}
    assert campaign["stats"]["total"] == 0
    sent = await client.post(f"{API}/{campaign['id']}/send", headers=tenant.headers())
    assert sent.status_code == 202, sent.text
    assert sent.json()["data"]["status"] == "sending"
    view = await wait_until_settled(client, tenant, campaign["id"])
    assert view["status"] == "completed", view
    stats = view["stats"]
    assert stats["total"] == 28
    assert stats["skipped"] == 4
    assert stats["delivered"] == 24
    assert adds_up(stats)
    assert view["progress"] == 100.0
    assert view["delivery_rate"] == 100.0
    assert view["started_at"] <= view["completed_at"]
    assert await direct_counts(db, campaign["id"]) == {
        b: stats[b] for b in stats if b not in ("total", "skipped")
    }
    async with db.reading() as connection:
        rows = list(
            await connection.execute(
                select(MESSAGES.c.contact_id, MESSAGES.c.to, MESSAGES.c.subject, MESSAGES.c.body).where(
                    MESSAGES.c.campaign_id == campaign["id"]
                )
            )
        )
    assert len({row.contact_id for row in rows}) == len(rows) == 24
    assert set(reachable) - {row.contact_id for row in rows} == {reachable[3]}
    one = next(row for row in rows if row.to == "sale-7@example.com")
    assert one.subject == "Spring Sale - 50% Off"
    assert one.body == "<h1>Spring Sale, Sale 7!</h1><p>50% off today only.</p>"


async def test_audiences_by_tags_and_by_ids(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    vip = await add_contacts(db, tenant.id, 4, prefix="vip", tags=["vip"])
    both = await add_contacts(db, tenant.id, 3, prefix="both", tags=["vip", "newsletter"])
    await add_contacts(db, tenant.id, 5, prefix="news", tags=["newsletter"])
    any_vip = await create(client, tenant, **SPRING_SALE, tags=["vip"])
    all_of = await create(client, tenant, **SPRING_SALE, tags=["vip", "newsletter"], tag_match="all")
    chosen = await create(client, tenant, **SPRING_SALE, contact_ids=[vip[0], both[1]])
    assert all_of["audience"] == {"type": "tags", "tags": ["newsletter", "vip"], "tag_match": "all"}
    assert chosen["audience"] == {"type": "contacts", "contact_count": 2}
    for campaign in (any_vip, all_of, chosen):
        response = await client.post(f"{API}/{campaign['id']}/send", json={}, headers=tenant.headers())
        assert response.status_code == 202, response.text
    totals = [
        (await wait_for(client, tenant, campaign["id"], {"completed"}))["stats"]["total"]
        for campaign in (any_vip, all_of, chosen)
    ]
    assert totals == [7, 3, 2]


async def test_schedule_moves_and_goes_out_once_on_time(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, 5, prefix="sched")
    campaign = await create(client, tenant, **SPRING_SALE)
    send = f"{API}/{campaign['id']}/send"
    far = await client.post(send, json={"scheduled_at": iso(datetime.now(UTC) + timedelta(hours=2))},
                            headers=tenant.headers())  # fmt: skip
    assert far.status_code == 202
    assert far.json()["data"]["status"] == "scheduled"
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    moved = await client.post(send, json={"scheduled_at": iso(due)}, headers=tenant.headers())
    assert moved.status_code == 202
    assert moved.json()["data"]["scheduled_at"] == iso(due)
    await asyncio.sleep(0.5)
    assert (await status(client, tenant, campaign["id"]))["status"] == "scheduled"
    view = await wait_for(client, tenant, campaign["id"], {"completed"})
    started = datetime.fromisoformat(view["started_at"])
    assert due <= started < due + timedelta(seconds=3)
    assert view["stats"]["total"] == 5
    again = await client.post(send, headers=tenant.headers())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_send_now_while_scheduled(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, 2, prefix="early")
    campaign = await create(client, tenant, **SPRING_SALE)
    later = iso(datetime.now(UTC) + timedelta(days=1))
    await client.post(f"{API}/{campaign['id']}/send", json={"scheduled_at": later}, headers=tenant.headers())
    now = await client.post(f"{API}/{campaign['id']}/send", headers=tenant.headers())
    assert now.status_code == 202
    assert (await wait_for(client, tenant, campaign["id"], {"completed"}))["stats"]["total"] == 2


async def test_cancel_a_scheduled_campaign(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, 2, prefix="never")
    campaign = await create(client, tenant, **SPRING_SALE)
    soon = iso(datetime.now(UTC) + timedelta(seconds=1))
    await client.post(f"{API}/{campaign['id']}/send", json={"scheduled_at": soon}, headers=tenant.headers())
    cancelled = await client.post(f"{API}/{campaign['id']}/cancel", headers=tenant.headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    await asyncio.sleep(2)
    view = await status(client, tenant, campaign["id"])
    assert view["status"] == "cancelled"
    assert view["stats"]["total"] == 0
    again = await client.post(f"{API}/{campaign['id']}/cancel", headers=tenant.headers())
    assert again.status_code == 409


async def test_list_filters_by_status(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    drafts = [await create(client, tenant, **(SPRING_SALE | {"name": f"Draft {n}"})) for n in range(3)]
    scheduled = await create(client, tenant, **(SPRING_SALE | {"name": "Later"}))
    later = iso(datetime.now(UTC) + timedelta(days=1))
    await client.post(f"{API}/{scheduled['id']}/send", json={"scheduled_at": later}, headers=tenant.headers())
    listed = await client.get(API, params={"per_page": 2}, headers=tenant.headers())
    body = listed.json()
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 4, "last_page": 2}
    assert [item["id"] for item in body["data"]] == [scheduled["id"], drafts[2]["id"]]
    only = await client.get(API, params={"status": "scheduled"}, headers=tenant.headers())
    assert [item["name"] for item in only.json()["data"]] == ["Later"]
    bad = await client.get(API, params={"status": "bogus"}, headers=tenant.headers())
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"channel": "fax"}, "channel"),
        ({"template_key": "appointment_reminder"}, "body"),  # both a template and an inline body
        ({"message_template": "Hi {{ order }}"}, "message_template"),  # not a contact field
        ({"message_template": "Hi {{ name"}, "message_template"),  # syntax
        ({"contact_ids": []}, "contact_ids"),
        ({"contact_ids": [1], "tags": ["vip"]}, "body"),
        ({"send_window": {"start": "9am", "end": "20:00"}}, "send_window.start"),
        (
            {"send_window": {"start": "09:00", "end": "20:00", "timezone": "Mars/Olympus"}},
            "send_window.timezone",
        ),
        ({"integration_id": 2**31 + 5}, None),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_campaigns_are_refused(
    client: httpx.AsyncClient, db: Database, change: dict[str, object], field: str | None
) -> None:
    tenant, _ = await sending_tenant(db)
    response = await client.post(API, json=SPRING_SALE | change, headers=tenant.headers())
    assert response.status_code in (404, 422), response.text
    error = response.json()["error"]
    if field is not None:
        assert response.status_code == 422
        assert field in error["fields"], error


async def test_unknown_contact_ids_and_wrong_channel_template(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant, _ = await sending_tenant(db)
    other, _ = await sending_tenant(db)
    theirs = await add_contacts(db, other.id, 1, prefix="theirs")
    response = await client.post(API, json=SPRING_SALE | {"contact_ids": theirs}, headers=tenant.headers())
    assert response.status_code == 422
    assert str(theirs[0]) in response.json()["error"]["fields"]["contact_ids"][0]
    sms_template = {"name": "x", "channel": "email", "template_key": "reminder"}
    wrong = await client.post(API, json=sms_template, headers=tenant.headers())
    assert wrong.status_code == 422
    assert "template_key" in wrong.json()["error"]["fields"]


@pytest.mark.parametrize(
    "scheduled_at", ["2026-04-01T10:00:00Z", "yesterday", "2026-13-01T10:00:00Z", "2999-01-01T00:00:00Z", ""]
)
async def test_bad_schedules_are_422(client: httpx.AsyncClient, db: Database, scheduled_at: str) -> None:
    tenant, _ = await sending_tenant(db)
    campaign = await create(client, tenant, **SPRING_SALE)
    response = await client.post(
        f"{API}/{campaign['id']}/send", json={"scheduled_at": scheduled_at}, headers=tenant.headers()
    )
    assert response.status_code == 422, response.text
    assert "scheduled_at" in response.json()["error"]["fields"]
    assert (await status(client, tenant, campaign["id"]))["status"] == "draft"


async def test_scopes_and_tenants(client: httpx.AsyncClient, db: Database, other_tenant: TenantKeys) -> None:
    tenant, _ = await sending_tenant(db)
    campaign = await create(client, tenant, **SPRING_SALE)
    read_only = await client.post(API, json=SPRING_SALE, headers=tenant.headers(tenant.read))
    assert read_only.status_code == 403
    write_only = await client.post(f"{API}/{campaign['id']}/send", headers=tenant.headers(tenant.write))
    assert write_only.status_code == 403
    assert (
        await client.get(f"{API}/{campaign['id']}/status", headers=tenant.headers(tenant.read))
    ).status_code == 200
    for method, path in (("GET", "/status"), ("POST", "/send"), ("POST", "/cancel")):
        response = await client.request(
            method, f"{API}/{campaign['id']}{path}", headers=other_tenant.headers()
        )
        assert response.status_code == 404, (path, response.text)
    listed = await client.get(API, headers=other_tenant.headers())
    assert campaign["id"] not in [item["id"] for item in listed.json()["data"]]
    assert (await client.get(f"{API}/1/status")).status_code == 401


async def test_counts_stay_exact_when_sends_fail(client: httpx.AsyncClient, db: Database) -> None:
    """Sandbox magic recipients fail or go undelivered; the counters follow every transition."""
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, 4, prefix="ok", email=False, phone=True, start=100)
    magic = ["+15005550001", "+15005550005", "+15005550003"]  # fails, undelivered, flaky
    await add_contacts(db, tenant.id, 3, prefix="magic", email=False, phones=magic)
    campaign = await create(client, tenant, name="SMS", channel="sms", message_template="Hi {{ name }}")
    await client.post(f"{API}/{campaign['id']}/send", headers=tenant.headers())
    view = await wait_until_settled(client, tenant, campaign["id"])
    assert view["status"] == "completed"
    assert adds_up(view["stats"])
    assert view["stats"]["total"] == 7
    assert (view["stats"]["delivered"], view["stats"]["failed"], view["stats"]["undelivered"]) == (5, 1, 1)
    counted = await direct_counts(db, campaign["id"])
    assert counted == {b: view["stats"][b] for b in counted}
    async with db.reading() as connection:
        messages = (
            await connection.execute(select(func.count()).where(MESSAGES.c.campaign_id == campaign["id"]))
        ).scalar_one()
    assert messages == 7
