"""Scaled out: a gateway and two `weconn worker` processes on PostgreSQL and Redis deliver every
event of 100 messages to a receiver, verified with `standardwebhooks`, even with one worker
SIGKILLed halfway (its stream lease and in-flight attempts run out and are taken over)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.databases import BACKEND, create_database, drop_database
from tests.support.redis_server import REDIS_SERVER, RedisServer
from tests.support.server import ServerProcess, start_server
from tests.support.webhook_receiver import start_receiver
from tests.support.worker_processes import WorkerProcess, start_worker, stop_all

MESSAGES = 100
LIFECYCLE = ("message.queued", "message.sent", "message.delivered")
SETTINGS = {
    "WECONN_SANDBOX_DELIVERY_DELAY_MS": "100", "WECONN_WEBHOOK_ALLOW_PRIVATE": "true",
    "WECONN_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,0.5,0.5,0.5", "WECONN_WEBHOOK_LEASE_SECONDS": "3",
    "WECONN_SWEEP_INTERVAL_SECONDS": "0.5", "WECONN_SWEEP_STALE_SECONDS": "2",
    "WECONN_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.05",
    # The killed worker may hold sandbox receipts: the sweeper then asks the sandbox after 3 s.
    "WECONN_RECEIPT_TIMEOUT_SECONDS": "3", "WECONN_SEND_LEASE_SECONDS": "5",
}  # fmt: skip

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(BACKEND != "postgresql", reason="scaled-out mode needs PostgreSQL"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (make test installs it)"),
]


def send_batch(gateway: ServerProcess) -> list[int]:
    recipients = [{"to": f"+4073{n:07d}"} for n in range(MESSAGES)]
    response = httpx.post(
        f"{gateway.base_url}/api/v1/integrations/messages/send-batch",
        json={"channel": "sms", "body": "hooked", "recipients": recipients},
        headers={"X-API-Key": gateway.demo_key},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return [result["id"] for result in response.json()["data"]["results"]]


async def test_every_event_arrives_signed_across_processes_and_a_killed_worker(tmp_path: Path) -> None:
    database_url = await create_database(tmp_path)
    redis = RedisServer(tmp_path / "redis")
    receiver = start_receiver()
    processes: list[ServerProcess | WorkerProcess] = []
    try:
        redis.start()
        extra = {"WECONN_REDIS_URL": redis.url, **SETTINGS}
        gateway = start_server(tmp_path / "gateway", database_url, **extra)
        processes.append(gateway)
        workers = [start_worker(name, tmp_path / name, database_url, threads=4, **extra) for name in "ab"]
        processes += workers
        for worker in workers:
            worker.wait_consuming()
        created = await asyncio.to_thread(
            httpx.post,
            f"{gateway.base_url}/api/v1/integrations/webhooks",
            json={"url": receiver.url("/scaled"), "delivery_profile": "sms_only"},
            headers={"X-API-Key": gateway.demo_key},
        )
        assert created.status_code == 201, created.text
        secret = created.json()["data"]["secret"]

        ids = await asyncio.to_thread(send_batch, gateway)
        await receiver.wait_for("/scaled", MESSAGES, seconds=60)
        workers[0].kill()
        # A killed worker's deliveries come again (at least once): count the distinct events.
        await receiver.wait_for("/scaled", MESSAGES * len(LIFECYCLE), seconds=120, distinct=True)
        await asyncio.sleep(1)

        arrived = {}
        for request in receiver.at("/scaled"):
            body = request.verify(secret)
            key = (body["data"]["message_id"], body["type"])
            assert arrived.setdefault(key, request.webhook_id) == request.webhook_id  # a repeat keeps its id
        assert set(arrived) == {(message_id, kind) for message_id in ids for kind in LIFECYCLE}
    finally:
        stop_all([process.process for process in processes])
        receiver.server.shutdown()
        redis.stop()
        await drop_database(database_url)
