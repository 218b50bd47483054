"""Campaigns over GraphQL: the same resolvers, data and error codes as REST; messages batched."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.db import Database
from gateway.migrate import upgrade_to_head
from resolvers.campaign_fanout import FanOut, Step
from tests.support.campaigns import API, add_contacts, adds_up, direct_counts
from tests.support.messaging import sending_tenant
from tests.support.queries import count_queries
from tests.support.tenants import TenantKeys

CAMPAIGN = """id name channel status messageTemplate templateKey subject integrationId smsRouting
  audience { type tags tagMatch contactCount } sendWindow { start end timezone }
  scheduledAt startedAt completedAt cancelledAt createdAt updatedAt
  stats { total skipped queued sending sent delivered read undelivered failed cancelled }
  deliveryRate progress"""
CREATE = "mutation($input: CampaignInput!) { createCampaign(input: $input) { " + CAMPAIGN + " } }"
SEND = "mutation($id: Int!) { sendCampaign(id: $id) { id status startedAt } }"
SCHEDULE = """mutation($id: Int!, $at: String!) {
  scheduleCampaign(id: $id, scheduledAt: $at) { id status scheduledAt }
}"""
CANCEL = "mutation($id: Int!) { cancelCampaign(id: $id) { id status cancelledAt } }"
READ = "query($id: Int!) { campaign(id: $id) { " + CAMPAIGN + " } }"
SMS = {"name": "Reminder", "channel": "sms", "messageTemplate": "Hi {{ name }}, see you tomorrow"}


async def run(
    client: httpx.AsyncClient, tenant: TenantKeys, query: str, key: str | None = None, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=tenant.headers(key)
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def create(client: httpx.AsyncClient, tenant: TenantKeys, **fields: Any) -> dict[str, Any]:
    result = await run(client, tenant, CREATE, input=fields)
    assert "errors" not in result, result
    return result["data"]["createCampaign"]  # type: ignore[no-any-return]


def error_of(result: dict[str, Any]) -> tuple[str, dict[str, list[str]] | None]:
    assert result["data"] is None, result
    extensions = result["errors"][0]["extensions"]
    return extensions["code"], extensions.get("fields")


def as_rest(value: Any) -> Any:
    """A GraphQL answer in REST's shape: snake_case names; absent audience keys are nulls here."""
    if isinstance(value, list):
        return [as_rest(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): as_rest(item) for name, item in value.items()}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def wait_until_settled(
    client: httpx.AsyncClient, tenant: TenantKeys, campaign_id: int, seconds: float = 30
) -> dict[str, Any]:
    """Polls `campaign(id)` until it is completed and no message awaits a receipt any more."""
    deadline = time.monotonic() + seconds
    while True:
        view = (await run(client, tenant, READ, id=campaign_id))["data"]["campaign"]
        if (view["status"] == "completed" and view["stats"]["sent"] == 0) or time.monotonic() > deadline:
            return view  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def test_create_send_and_watch_until_completed(client: httpx.AsyncClient, db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    await add_contacts(db, tenant.id, 3, prefix="ok", email=False, phone=True, start=200)
    await add_contacts(db, tenant.id, 2, prefix="magic", email=False, phones=["+15005550001", "+15005550005"])
    await add_contacts(db, tenant.id, 1, prefix="nophone")  # no phone: skipped
    created = await create(client, tenant, **SMS)
    assert (created["status"], created["audience"], created["integrationId"]) == ("draft", {
        "type": "all", "tags": None, "tagMatch": None, "contactCount": None}, None)  # fmt: skip
    assert created["stats"]["total"] == 0
    assert created["progress"] == 0.0
    sent = (await run(client, tenant, SEND, id=created["id"]))["data"]["sendCampaign"]
    assert sent["status"] == "sending"
    assert sent["startedAt"] is not None
    view = await wait_until_settled(client, tenant, created["id"])
    stats = view["stats"]
    assert view["status"] == "completed", view
    assert adds_up(stats)
    assert (stats["total"], stats["skipped"], stats["delivered"], stats["failed"], stats["undelivered"]) == (
        6, 1, 3, 1, 1)  # fmt: skip
    assert (view["progress"], view["deliveryRate"]) == (100.0, 60.0)
    assert await direct_counts(db, created["id"]) == {
        name: count for name, count in stats.items() if name not in ("total", "skipped")
    }
    rest = (await client.get(f"{API}/{created['id']}/status", headers=tenant.headers())).json()["data"]
    assert (rest["id"], rest["status"], rest["stats"]) == (view["id"], view["status"], stats)
    listing = """query($id: Int!) { campaign(id: $id) {
      all: messages(perPage: 100) { totalCount items { id status to integrationId events { status } } }
      failed: messages(status: "failed") { totalCount items { to errorCode } }
    } }"""
    messages = (await run(client, tenant, listing, id=created["id"]))["data"]["campaign"]
    items = messages["all"]["items"]
    assert messages["all"]["totalCount"] == len(items) == 5
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)
    assert {item["integrationId"] for item in items} == {integration_id}
    assert all(item["events"][0]["status"] == "queued" for item in items)
    assert messages["failed"] == {
        "totalCount": 1, "items": [{"to": "+15005550001", "errorCode": "invalid_recipient"}]}  # fmt: skip


async def test_rest_and_graphql_show_the_same_campaign(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    window = {"start": "08:00", "end": "21:30", "timezone": "Europe/Bucharest"}
    created = await create(
        client, tenant, **SMS, tags=["vip", "ro"], tagMatch="all", sendWindow=window, smsRouting="platform"
    )
    listed = await create(client, tenant, **SMS, contactIds=await add_contacts(db, tenant.id, 3, phone=True))
    assert listed["audience"] == {"type": "contacts", "tags": None, "tagMatch": None, "contactCount": 3}
    at = iso(datetime.now(UTC) + timedelta(days=2))
    scheduled = (await run(client, tenant, SCHEDULE, id=created["id"], at=at))["data"]["scheduleCampaign"]
    assert (scheduled["status"], scheduled["scheduledAt"]) == ("scheduled", at)
    views: dict[int, dict[str, Any]] = {}
    for campaign_id in (created["id"], listed["id"]):
        rest = (await client.get(f"{API}/{campaign_id}/status", headers=tenant.headers())).json()["data"]
        shown = as_rest((await run(client, tenant, READ, id=campaign_id))["data"]["campaign"])
        shown["audience"] = {name: value for name, value in shown["audience"].items() if value is not None}
        assert shown == rest
        views[campaign_id] = shown
    assert views[created["id"]]["audience"] == {"type": "tags", "tags": ["ro", "vip"], "tag_match": "all"}
    assert (views[created["id"]]["send_window"], views[listed["id"]]["send_window"]) == (window, None)
    rest_page = (await client.get(f"{API}?per_page=1&status=draft", headers=tenant.headers())).json()
    page = '{ campaigns(perPage: 1, status: "draft") { items { id } totalCount page perPage lastPage } }'
    graphql_page = (await run(client, tenant, page))["data"]["campaigns"]
    assert [item["id"] for item in graphql_page["items"]] == [item["id"] for item in rest_page["data"]]
    assert (graphql_page["totalCount"], graphql_page["lastPage"]) == (1, 1)
    cancelled = (await run(client, tenant, CANCEL, id=created["id"]))["data"]["cancelCampaign"]
    assert cancelled["status"] == "cancelled"
    after = (await client.get(f"{API}/{created['id']}/status", headers=tenant.headers())).json()["data"]
    assert (after["status"], after["cancelled_at"]) == ("cancelled", cancelled["cancelledAt"])


async def test_validation_and_conflicts_carry_the_rest_codes(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    campaign = await create(client, tenant, **SMS)
    for when in ("2020-01-01T10:00:00Z", "next tuesday", iso(datetime.now(UTC) + timedelta(days=400))):
        graphql = await run(client, tenant, SCHEDULE, id=campaign["id"], at=when)
        rest = await client.post(
            f"{API}/{campaign['id']}/send", json={"scheduled_at": when}, headers=tenant.headers()
        )
        assert rest.status_code == 422
        assert error_of(graphql) == (rest.json()["error"]["code"], rest.json()["error"]["fields"])
        assert error_of(graphql)[0] == "validation_error"
    both = await run(client, tenant, CREATE, input={**SMS, "tags": ["a"], "contactIds": [1]})
    assert error_of(both)[0] == "validation_error"
    window = {"start": "09:00", "end": "09:00", "timezone": "Mars/Olympus"}
    bad_window = error_of(await run(client, tenant, CREATE, input={**SMS, "sendWindow": window}))
    assert bad_window[0] == "validation_error"
    assert bad_window[1] is not None
    assert "send_window.timezone" in bad_window[1]
    paused = error_of(await run(client, tenant, '{ campaigns(status: "paused") { totalCount } }'))
    assert paused == (
        "validation_error",
        {"status": ["one of draft, scheduled, sending, completed, cancelled, failed"]},
    )
    paging = f"{{ campaign(id: {campaign['id']}) {{ messages(perPage: 1000) {{ totalCount }} }} }}"
    assert error_of(await run(client, tenant, paging))[1] == {"per_page": ["must be between 1 and 100"]}
    unknown = f'{{ campaign(id: {campaign["id"]}) {{ messages(status: "lost") {{ totalCount }} }} }}'
    assert error_of(await run(client, tenant, unknown))[0] == "validation_error"
    assert error_of(await run(client, tenant, CANCEL, id=campaign["id"]))[0] == "conflict"  # a draft
    rest = await client.post(f"{API}/{campaign['id']}/cancel", headers=tenant.headers())
    assert (rest.status_code, rest.json()["error"]["code"]) == (409, "conflict")


async def test_tenancy_and_scopes(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    other, _ = await sending_tenant(db)
    campaign = await create(client, tenant, **SMS)
    at = iso(datetime.now(UTC) + timedelta(hours=1))
    for query, variables in ((READ, {}), (SEND, {}), (SCHEDULE, {"at": at}), (CANCEL, {})):
        assert error_of(await run(client, other, query, id=campaign["id"], **variables))[0] == "not_found"
    assert error_of(await run(client, tenant, READ, id=2**31 - 1))[0] == "not_found"
    theirs = (await run(client, other, "{ campaigns { items { id } totalCount } }"))["data"]["campaigns"]
    assert theirs == {"items": [], "totalCount": 0}
    assert error_of(await run(client, tenant, CREATE, key=tenant.read, input=SMS))[0] == "forbidden"
    assert error_of(await run(client, tenant, SEND, key=tenant.write, id=campaign["id"]))[0] == "forbidden"
    assert error_of(await run(client, tenant, SEND, key=tenant.read, id=campaign["id"]))[0] == "forbidden"
    read = await run(client, tenant, READ, key=tenant.read, id=campaign["id"])
    assert read["data"]["campaign"]["status"] == "draft"
    anonymous = await client.post("/graphql", json={"query": "{ campaigns { totalCount } }"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "unauthenticated"


async def test_campaign_messages_load_in_one_batch(
    quiet_app: Any, quiet_client: httpx.AsyncClient, quiet_db: Database
) -> None:
    """`campaigns { items { messages } }`: the same number of queries for 2 campaigns as for 6."""
    client, db, services = quiet_client, quiet_db, quiet_app.state.services
    await upgrade_to_head(db.engine)  # a no-op after the `app` fixture; needed when this test runs alone
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, 5, prefix="batch", email=False, phone=True, start=300)
    for index in range(6):
        campaign = await create(client, tenant, **SMS | {"name": f"Batch {index}"})
        assert (await run(client, tenant, SEND, id=campaign["id"]))["data"]["sendCampaign"][
            "status"
        ] == "sending"
        fan_out = FanOut(db, services.settings, services.queue, services.bus, campaign["id"])
        assert await fan_out.run() is Step.FINISHED
    query = """query($n: Int!) { campaigns(perPage: $n) { items {
      id stats { total }
      first: messages(perPage: 2) { totalCount lastPage items { id status events { status } } }
      second: messages(page: 2, perPage: 2) { items { id } }
      third: messages(page: 3, perPage: 2) { items { id } }
      none: messages(status: "cancelled") { totalCount items { id } }
    } } }"""
    counts = []
    for size in (2, 6):
        with count_queries(db) as statements:
            result = await run(client, tenant, query, n=size)
        assert "errors" not in result, result
        items = result["data"]["campaigns"]["items"]
        assert len(items) == size
        seen: set[int] = set()
        for item in items:
            first, second, third = item["first"], item["second"]["items"], item["third"]["items"]
            assert (first["totalCount"], first["lastPage"], item["stats"]["total"]) == (5, 3, 5)
            assert all(message["events"][0] == {"status": "queued"} for message in first["items"])
            ids = [message["id"] for message in first["items"] + second + third]
            assert ids == sorted(ids, reverse=True)
            assert len(ids) == 5
            assert seen.isdisjoint(ids)
            seen.update(ids)
            assert item["none"] == {"totalCount": 0, "items": []}
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
