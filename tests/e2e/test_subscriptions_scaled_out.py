"""Acceptance: live events across processes. Two gateways and two workers on PostgreSQL and a Redis
of this module's own; a subscriber on gateway B sees every transition of 1,000 messages sent
through gateway A, in order per message, and another tenant's subscriber on B sees none."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import BACKEND, create_database, drop_database
from tests.support.redis_server import REDIS_SERVER, RedisServer
from tests.support.server import ServerProcess, run_cli, start_server
from tests.support.worker_processes import WorkerProcess, start_worker, stop_all
from tests.support.ws_client import GraphQLSocket

MESSAGES = 1000
STEPS = ["queued", "sending", "sent", "delivered"]
EVENTS = "subscription { deliveryEvents { cursor messageId status } }"
SETTINGS = {"WECONN_SANDBOX_DELIVERY_DELAY_MS": "100"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(BACKEND != "postgresql", reason="scaled-out mode needs PostgreSQL"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (make test installs it)"),
]


async def listen(url: str, key: str, sink: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with GraphQLSocket(url, {"X-API-Key": key}) as socket:
        stream = socket.subscribe(EVENTS, seconds=120)
        ready.set()
        async for data in stream:
            sink.append(data["deliveryEvents"])  # noqa: PERF401 - the test reads it while it grows


def second_tenant_key(data_dir: Path, database_url: str) -> str:
    assert (
        run_cli(data_dir, database_url, "tenant", "create", "--slug", "other", "--name", "O").returncode == 0
    )
    created = run_cli(
        data_dir, database_url, "apikey", "create", "--tenant", "other", "--scopes", "read", "--name", "o"
    )
    return created.stdout.strip().splitlines()[-1]


async def wait_for(sink: list[dict[str, Any]], count: int, seconds: float) -> None:
    for _ in range(int(seconds * 10)):
        if len(sink) >= count:
            return
        await asyncio.sleep(0.1)


def per_message(events: list[dict[str, Any]]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for event in events:
        grouped[event["messageId"]].append(event["status"])
    return grouped


def send(gateway: ServerProcess, start: int, count: int = 500) -> list[int]:
    recipients = [{"to": f"+4072{start + n:07d}"} for n in range(count)]
    response = httpx.post(
        f"{gateway.base_url}/api/v1/integrations/messages/send-batch",
        json={"channel": "sms", "body": "across", "recipients": recipients},
        headers={"X-API-Key": gateway.demo_key},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return [result["id"] for result in response.json()["data"]["results"]]


async def test_a_subscriber_on_b_sees_every_transition_sent_through_a_and_after_a_redis_restart(
    tmp_path: Path,
) -> None:
    database_url = await create_database(tmp_path)
    redis = RedisServer(tmp_path / "redis")
    processes: list[ServerProcess | WorkerProcess] = []
    try:
        redis.start()
        extra = {"WECONN_REDIS_URL": redis.url, **SETTINGS}
        gateway_a = start_server(tmp_path / "a", database_url, **extra)
        gateway_b = start_server(tmp_path / "b", database_url, **extra)
        processes += [gateway_a, gateway_b]
        for name in ("worker1", "worker2"):
            worker = start_worker(name, tmp_path / name, database_url, threads=8, **extra)
            processes.append(worker)
            worker.wait_consuming()
        other_key = second_tenant_key(tmp_path / "a", database_url)

        url_b = f"ws://127.0.0.1:{gateway_b.port}/graphql"
        seen: list[dict[str, Any]] = []
        strangers: list[dict[str, Any]] = []
        ready, other_ready = asyncio.Event(), asyncio.Event()
        listening = asyncio.create_task(listen(url_b, gateway_a.demo_key, seen, ready))
        snooping = asyncio.create_task(listen(url_b, other_key, strangers, other_ready))
        await asyncio.wait_for(asyncio.gather(ready.wait(), other_ready.wait()), 20)
        await asyncio.sleep(0.5)  # the subscribe messages reach the server
        ids = await asyncio.to_thread(send, gateway_a, 0) + await asyncio.to_thread(send, gateway_a, 500)
        await wait_for(seen, MESSAGES * len(STEPS), 120)
        await asyncio.sleep(1)  # anything extra would show up now

        grouped = per_message(seen)
        assert set(grouped) == set(ids)
        out_of_order = {mid: statuses for mid, statuses in grouped.items() if statuses != STEPS}
        assert not out_of_order, dict(list(out_of_order.items())[:5])
        assert len(seen) == MESSAGES * len(STEPS)
        assert strangers == []

        # Redis restarts (empty): the relay reconnects by itself, and the subscription goes on.
        redis.kill()
        await asyncio.sleep(1)
        redis.start()
        for gateway in (gateway_a, gateway_b):
            for _ in range(100):
                ready = await asyncio.to_thread(httpx.get, f"{gateway.base_url}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(4)  # Dramatiq's consumers restart 3 s after losing Redis
        later = await asyncio.to_thread(send, gateway_a, 2000, 50)
        await wait_for(seen, (MESSAGES + 50) * len(STEPS), 90)
        after_restart = per_message(seen[MESSAGES * len(STEPS) :])
        assert set(after_restart) == set(later)
        assert all(statuses == STEPS for statuses in after_restart.values()), after_restart
        listening.cancel()
        snooping.cancel()
    finally:
        stop_all([process.process for process in processes])
        redis.stop()
        await drop_database(database_url)
