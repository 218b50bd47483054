"""Subscriptions over real WebSockets against `weconn serve` (embedded mode): both protocols,
auth on the socket, per-message order, resuming from a cursor, campaign progress."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, run_cli, start_server
from tests.support.ws_client import LEGACY_WS, GraphQLSocket, SubscriptionError, rejected_with

pytestmark = pytest.mark.e2e
STEPS = ["queued", "sending", "sent", "delivered"]
EVENTS = """subscription($after: String, $campaignId: Int) {
  deliveryEvents(after: $after, campaignId: $campaignId) {
    cursor messageId channel status occurredAt campaignId
  }
}"""
STATUS = "subscription($id: Int!) { messageStatus(id: $id) { cursor messageId status } }"
PROGRESS = """subscription($id: Int!) {
  campaignProgress(id: $id) { status progress stats { total delivered queued } }
}"""


def ws_url(server: ServerProcess) -> str:
    return f"ws://127.0.0.1:{server.port}/graphql"


def send_batch(server: ServerProcess, count: int, start: int = 0) -> list[int]:
    recipients = [{"to": f"+4074{start + n:07d}"} for n in range(count)]
    body = {"channel": "sms", "body": "live", "recipients": recipients}
    response = httpx.post(f"{server.base_url}/api/v1/integrations/messages/send-batch", json=body,
                          headers={"X-API-Key": server.demo_key}, timeout=30)  # fmt: skip
    assert response.status_code == 202, response.text
    return [result["id"] for result in response.json()["data"]["results"]]


async def collect(socket: GraphQLSocket, query: str, variables: dict[str, object], wanted: int) -> list[dict]:
    """Events until `wanted` of them came (the stream itself never ends)."""
    seen: list[dict] = []
    async for data in socket.subscribe(query, variables, seconds=20):
        seen.append(data["deliveryEvents"])
        if len(seen) >= wanted:
            break
    return seen


def by_message(events: list[dict]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for event in events:
        grouped[event["messageId"]].append(event["status"])
    return grouped


async def test_delivery_events_in_order_per_message(server: ServerProcess) -> None:
    async with GraphQLSocket(ws_url(server), {"X-API-Key": server.demo_key}) as socket:
        listening = asyncio.create_task(collect(socket, EVENTS, {}, 20 * 4))
        await asyncio.sleep(0.3)
        ids = await asyncio.to_thread(send_batch, server, 20)
        events = await asyncio.wait_for(listening, 30)
    assert set(by_message(events)) == set(ids)
    assert all(statuses == STEPS for statuses in by_message(events).values()), by_message(events)
    cursors = [int(event["cursor"]) for event in events]
    assert len(set(cursors)) == len(cursors)
    assert all(event["channel"] == "sms" and event["occurredAt"].endswith("Z") for event in events)


async def test_resuming_from_a_cursor_gives_exactly_the_full_set(server: ServerProcess) -> None:
    headers = {"X-API-Key": server.demo_key}
    async with GraphQLSocket(ws_url(server), {"headers": headers}) as first:  # nested form of the payload
        listening = asyncio.create_task(collect(first, EVENTS, {}, 1))
        await asyncio.sleep(0.3)
        ids = await asyncio.to_thread(send_batch, server, 30, start=100)
        before = await asyncio.wait_for(listening, 30)
    # disconnected after the first event: the rest happen while nobody listens
    await asyncio.sleep(1.5)
    async with GraphQLSocket(ws_url(server), {"X-API-Key": server.demo_key}) as second:
        after = await collect(second, EVENTS, {"after": before[-1]["cursor"]}, 30 * 4 - len(before))
    everything = before + after
    assert len({event["cursor"] for event in everything}) == len(everything) == 120
    assert set(by_message(everything)) == set(ids)
    assert all(statuses == STEPS for statuses in by_message(everything).values())


async def test_message_status_starts_with_now_and_ends_when_final(server: ServerProcess) -> None:
    [message_id] = send_batch(server, 1, start=500)
    async with GraphQLSocket(ws_url(server), {"X-API-Key": server.demo_key}) as socket:
        statuses = [
            data["messageStatus"]["status"] async for data in socket.subscribe(STATUS, {"id": message_id})
        ]
    assert statuses[-1] == "delivered"
    assert statuses == STEPS[STEPS.index(statuses[0]) :]


async def test_the_legacy_protocol_and_the_upgrade_headers(server: ServerProcess) -> None:
    [message_id] = send_batch(server, 1, start=600)
    url, headers = ws_url(server), {"X-API-Key": server.demo_key}
    async with GraphQLSocket(url, None, protocol=LEGACY_WS, headers=headers) as socket:
        statuses = [
            data["messageStatus"]["status"] async for data in socket.subscribe(STATUS, {"id": message_id})
        ]
    assert statuses[-1] == "delivered"


async def test_socket_auth(server: ServerProcess, fresh_database_url: str | None) -> None:
    url = ws_url(server)
    assert await rejected_with(url, {"X-API-Key": "wck_not-a-key"}) == 4403
    assert await rejected_with(url, {}) == 4403
    assert await rejected_with(url, {"Authorization": "Bearer nonsense", "X-Tenant-Id": "demo"}) == 4403
    send_only = run_cli(
        server.data_dir,
        fresh_database_url,
        "apikey",
        "create",
        "--tenant",
        "demo",
        "--scopes",
        "send",
        "--name",
        "s",
    )
    assert await rejected_with(url, {"X-API-Key": send_only.stdout.strip().splitlines()[-1]}) == 4403
    read_only = run_cli(
        server.data_dir,
        fresh_database_url,
        "apikey",
        "create",
        "--tenant",
        "demo",
        "--scopes",
        "read",
        "--name",
        "r",
    )
    assert await rejected_with(url, {"X-API-Key": read_only.stdout.strip().splitlines()[-1]}) == 0


async def test_another_tenant_sees_nothing(server: ServerProcess, fresh_database_url: str | None) -> None:
    created = run_cli(
        server.data_dir, fresh_database_url, "tenant", "create", "--slug", "other", "--name", "Other"
    )
    assert created.returncode == 0, created.stderr
    key = run_cli(
        server.data_dir,
        fresh_database_url,
        "apikey",
        "create",
        "--tenant",
        "other",
        "--scopes",
        "read",
        "--name",
        "o",
    )
    other_key = key.stdout.strip().splitlines()[-1]
    async with GraphQLSocket(ws_url(server), {"X-API-Key": other_key}) as socket:
        listening = asyncio.create_task(collect(socket, EVENTS, {"after": "0"}, 1))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(send_batch, server, 10, start=700)
        await asyncio.sleep(2)
        assert not listening.done()
        listening.cancel()
    [message_id] = send_batch(server, 1, start=800)
    async with GraphQLSocket(ws_url(server), {"X-API-Key": other_key}) as socket:
        with pytest.raises(SubscriptionError) as refused:
            async for _ in socket.subscribe(STATUS, {"id": message_id}):
                pass
        assert refused.value.codes == ["not_found"]
        with pytest.raises(SubscriptionError) as invalid:
            async for _ in socket.subscribe("subscription { messageStatus(id: 1) { nope } }"):
                pass
        assert invalid.value.codes == ["invalid_query"]


@pytest.fixture
def slow_sandbox_server(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServerProcess]:
    """A sandbox whose sends take a provider's round trip: without it, 40 emails can go from
    `draft` to `completed` inside one coalescing window, and no progress in between is seen."""
    process = start_server(tmp_path / "data", fresh_database_url, WECONN_SANDBOX_SEND_LATENCY_MS="300")
    yield process
    process.stop()


async def test_campaign_progress(slow_sandbox_server: ServerProcess) -> None:
    server = slow_sandbox_server
    headers = {"X-API-Key": server.demo_key}
    api = f"{server.base_url}/api/v1/integrations"
    async with httpx.AsyncClient(headers=headers) as client:
        for n in range(40):
            await client.post(f"{api}/contacts", json={"name": f"P{n}", "email": f"p{n}@example.com"})
        body = {"name": "Live", "channel": "email", "message_template": "Hi {{ name }}"}
        campaign = (await client.post(f"{api}/campaigns", json=body)).json()["data"]
        async with GraphQLSocket(ws_url(server), {"X-API-Key": server.demo_key}) as socket:
            updates: list[dict] = []

            async def watch() -> None:
                updates.extend(
                    [
                        data["campaignProgress"]
                        async for data in socket.subscribe(PROGRESS, {"id": campaign["id"]})
                    ]
                )

            watching = asyncio.create_task(watch())
            await asyncio.sleep(0.3)
            assert (await client.post(f"{api}/campaigns/{campaign['id']}/send")).status_code == 202
            await asyncio.wait_for(watching, 30)
    assert updates[0]["status"] == "draft"
    assert updates[-1]["status"] == "completed"
    assert updates[-1]["stats"]["delivered"] == updates[-1]["stats"]["total"] >= 40
    assert updates[-1]["progress"] == 100.0
    assert len(updates) >= 3
