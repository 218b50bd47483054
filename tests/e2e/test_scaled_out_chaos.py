"""Acceptance chaos test of the scaled-out messaging pipeline.

`weconn serve` and two `weconn worker` processes on PostgreSQL and on a Redis server this module
starts itself; 1,000 messages (two batches of 500) flow while one worker is killed with SIGKILL
and Redis is killed and restarted, empty, on the same port. Every message must end `delivered`,
with exactly one `sent` and one `delivered` transition and a provider id of its own: the database
is the source of truth, the surviving worker's sweeper re-enqueues what Redis lost (`queued`
messages, `sending` ones whose lease ran out) and asks the sandbox about `sent` messages whose
receipt was lost (with Redis, or with the killed worker).

The sandbox provider has no external stub, so what it accepted is watched on Redis itself: each
send it accepts enqueues its delivery receipt, which carries the provider id (`SB…`), and a
MONITOR tap keeps every such id. A worker killed after the provider accepted, before its `sent`
commit, leaves a message that is sent again (at least once to the provider); the sandbox, like a
provider API taking idempotency keys, gives a message the same id on every send, so the resend is
the same message to it: an id no message kept would be a message received twice.

Afterwards a few more messages must still be delivered by the receipt's fast path (the sandbox's
delayed message), not only by reconciliation; while they are, Redis is restarted again (at most
twice) with receipts falling due during the outage: a Redis outage while a delayed message falls
due must not stop a worker's delayed-queue consumer (Dramatiq's own Redis broker let a bare redis
error kill that thread; `workers.broker.ResilientRedisBroker` turns it into `ConnectionClosed`).

The scenario runs once per module (`chaos_run`); the tests only judge what it recorded.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import dramatiq
import httpx
import pytest
from redis import Redis
from sqlalchemy.engine import make_url

from gateway.queue import queue_of
from gateway.settings import Settings
from tests.support.databases import BACKEND, create_database, drop_database
from tests.support.redis_server import REDIS_SERVER, MonitorTap, RedisServer
from tests.support.server import ServerProcess, start_server
from tests.support.worker_processes import WorkerProcess, start_worker, stop_all
from workers.broker import build_broker

SEND_BATCH = "/api/v1/integrations/messages/send-batch"
BATCHES = 2
BATCH_SIZE = 500  # the batch endpoint's limit
TOTAL = BATCHES * BATCH_SIZE
WORKER_THREADS = 8
KILL_WORKER_AFTER = 250  # messages through the provider (`sent` or beyond) when a worker is killed
REDIS_KILL_AFTER_SECONDS = 0.5  # after the worker, while most messages still wait in Redis
REDIS_DOWN_SECONDS = 1.0
SETTLE_DEADLINE_SECONDS = 120.0
RECEIPT_TIMEOUT_SECONDS = 10  # far above a loaded machine's fast path (the suites run side by side)
# Afterwards: do receipts still come by the fast path (the sandbox's delayed message, 100 ms) or
# only through reconciliation, RECEIPT_TIMEOUT_SECONDS later? A few messages must be delivered
# within PROMPT_SECONDS of being sent; then, while they are, Redis is restarted again (at most
# EXTRA_OUTAGES times) with receipts falling due during the outage, and they are asked again.
PROBES = 5
PROMPT_SECONDS = RECEIPT_TIMEOUT_SECONDS / 2
EXTRA_OUTAGES = 2
EXTRA_OUTAGE_SECONDS = 0.5
CONSUMER_RESTART_WAIT_SECONDS = 4.0  # Dramatiq restarts a consumer 3 s after a connection error
EXPECTED_EVENTS = ["queued", "sending", "sent", "delivered"]
PROVIDER_ID = r"SB[0-9a-f]{32}"  # the sandbox's provider message ids
# Dramatiq's delayed queue of the receipts (RedisBroker, namespace weconn)
DELAYED_QUEUE_KEY = f"weconn:{queue_of('apply_receipt')}.DQ"
TIMINGS = {
    "WECONN_SWEEP_INTERVAL_SECONDS": "0.5",
    "WECONN_SWEEP_STALE_SECONDS": "3",
    "WECONN_SEND_LEASE_SECONDS": "5",
    "WECONN_RECEIPT_TIMEOUT_SECONDS": str(RECEIPT_TIMEOUT_SECONDS),
    "WECONN_SANDBOX_DELIVERY_DELAY_MS": "100",
    # A provider's round trip: without it the workers pass all 1,000 messages to the sandbox within
    # a second, and nothing is left in flight when Redis is killed.
    "WECONN_SANDBOX_SEND_LATENCY_MS": "100",
}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="scaled-out mode (weconn worker on Redis) needs PostgreSQL; SQLite is embedded mode only",
    ),
    pytest.mark.skipif(
        REDIS_SERVER is None,
        reason="redis-server is not installed (make test installs it: tools/ensure-system-deps.sh)",
    ),
]


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def through(counts: dict[str, int]) -> int:
    """Messages the provider accepted and the database recorded: `sent`, or beyond."""
    return counts.get("sent", 0) + counts.get("delivered", 0)


class Progress:
    """Polls the messages per status; keeps a timeline (seconds since `start`) for the report."""

    def __init__(self, db: asyncpg.Connection, start: float) -> None:
        self.db = db
        self.start = start
        self.timeline: list[tuple[float, dict[str, int]]] = []

    async def now(self) -> dict[str, int]:
        """Counts per status, and `claimable_with_provider_id`: rows a worker may claim and send
        again although the provider's id is recorded (never expected: recording the id moves the
        message to `sent` in the same UPDATE)."""
        rows = await self.db.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
        counts = {row["status"]: row["n"] for row in rows}
        counts["claimable_with_provider_id"] = await self.db.fetchval(
            "SELECT count(*) FROM messages"
            " WHERE status IN ('queued', 'sending') AND provider_message_id IS NOT NULL"
        )
        self.timeline.append((time.monotonic() - self.start, counts))
        return counts

    async def wait_for(self, done: Callable[[dict[str, int]], bool], seconds: float) -> dict[str, int]:
        deadline = time.monotonic() + seconds
        while True:
            counts = await self.now()
            if done(counts) or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.1)

    def worst_claimable_with_provider_id(self) -> int:
        return max(counts["claimable_with_provider_id"] for _, counts in self.timeline)

    def render(self, every: float = 1.0) -> str:
        """About one line per `every` seconds, and the last one."""
        lines: list[str] = []
        last = -every
        for index, (at, counts) in enumerate(self.timeline):
            if at - last >= every or index == len(self.timeline) - 1:
                shown = {status: n for status, n in counts.items() if status != "claimable_with_provider_id"}
                lines.append(f"    t={at:5.1f}s {shown}")
                last = at
        return "\n".join(lines)


async def send_batch(client: httpx.AsyncClient, number: int, size: int) -> list[int]:
    """`size` distinct Romanian mobile numbers (+40 740 N xxxxx), one batch; returns the ids."""
    recipients = [
        {"to": f"+40740{number}{index:05d}", "variables": {"name": f"r{number}-{index}"}}
        for index in range(size)
    ]
    response = await client.post(
        SEND_BATCH, json={"channel": "sms", "body": "hi {{ name }}", "recipients": recipients}
    )
    assert response.status_code == 202, response.text[:2000]
    data = response.json()["data"]
    assert data["accepted"] == size, str(data)[:2000]
    return [result["id"] for result in data["results"]]


def enqueue_receipts_falling_due_around(redis_url: str, moment: float) -> None:
    """Receipts for provider ids no message has, delayed as the sandbox's are, falling due every
    40 ms from 200 ms before to 400 ms after `moment` (a `time.time()`): when Redis dies at
    `moment`, the worker holds delayed messages that fall due while it is down. (Closer together,
    the worker would more often be acknowledging one than enqueueing the next when Redis dies.)"""
    broker = build_broker(Settings(redis_url=redis_url))
    try:
        for number, offset_ms in enumerate(range(-200, 400, 40)):
            message: dramatiq.Message[Any] = dramatiq.Message(
                queue_name=queue_of("apply_receipt"),
                actor_name="apply_receipt",
                args=("sandbox", f"chaos-probe-{number}", "delivered", None, None),
                kwargs={},
                options={},
            )
            due_ms = moment * 1000 + offset_ms
            broker.enqueue(message, delay=max(0, int(due_ms - time.time() * 1000)))
    finally:
        broker.close()


async def probe(client: httpx.AsyncClient, db: asyncpg.Connection, number: int) -> float:
    """Sends PROBES messages; seconds until all are delivered, or inf after PROMPT_SECONDS."""
    started = time.monotonic()
    ids = await send_batch(client, number, PROBES)
    while time.monotonic() - started < PROMPT_SECONDS:
        delivered = await db.fetchval(
            "SELECT count(*) FROM messages WHERE id = ANY($1::int[]) AND status = 'delivered'", ids
        )
        if delivered == PROBES:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return math.inf


@dataclass
class ChaosRun:
    """What the scenario observed; collected before every process is stopped."""

    ids: list[int] = field(default_factory=list)
    accepted_in: float = 0.0
    worker_killed_at: float = 0.0  # seconds since the first batch was posted
    at_worker_kill: dict[str, int] = field(default_factory=dict)
    at_redis_kill: dict[str, int] = field(default_factory=dict)
    final: dict[str, int] = field(default_factory=dict)
    settled_in: float = math.inf  # seconds from the worker kill until all were delivered
    messages: list[asyncpg.Record] = field(default_factory=list)
    history: dict[int, list[str]] = field(default_factory=dict)
    sent_with: dict[int, str] = field(default_factory=dict)  # provider id named by each `sent` event
    worst_claimable_with_provider_id: int = 0
    sandbox_accepted: dict[str, float] = field(default_factory=dict)  # provider id -> seen, from kill
    tap_reconnections: int = 0
    survivor_alive: bool = False
    consumer_thread_died: bool = False  # a thread of the surviving worker died ("Exception in thread")
    # Seconds for PROBES messages to be delivered after the chaos, then after each extra outage.
    probes: list[float] = field(default_factory=list)
    delayed_backlog: int = 0  # messages left in Dramatiq's delayed queue at the end
    timeline: str = ""
    logs: str = ""
    total_seconds: float = 0.0

    def report(self) -> str:
        attempts = Counter(row["attempts"] for row in self.messages)
        retried = sum(n for tries, n in attempts.items() if tries > 1)
        duplicates = self.duplicate_sends()
        kept = {row["provider_message_id"] for row in self.messages}
        unseen = len(kept - self.sandbox_accepted.keys())
        return (
            f"scaled-out chaos: {TOTAL} messages accepted in {self.accepted_in:.1f} s; worker SIGKILLed"
            f" at t={self.worker_killed_at:.1f}s {self.at_worker_kill}; Redis killed"
            f" {REDIS_KILL_AFTER_SECONDS:.1f} s later {self.at_redis_kill}, down {REDIS_DOWN_SECONDS:.1f} s;"
            f" all delivered {self.settled_in:.1f} s after the worker kill ({self.total_seconds:.1f} s"
            f" for the whole scenario)."
            f"\n  attempts per message {dict(sorted(attempts.items()))}: {retried} messages needed more"
            f" than one attempt; claimable again with a provider id recorded:"
            f" {self.worst_claimable_with_provider_id}."
            f"\n  the sandbox accepted {len(self.sandbox_accepted)} sends for {TOTAL} messages:"
            f" {len(duplicates)} duplicate sends (accepted ids no message kept), seen at {duplicates} s"
            f" from the worker kill; {unseen} kept ids unseen by the MONITOR tap"
            f" ({self.tap_reconnections} reconnections)."
            f"\n  a thread of the surviving worker died: {self.consumer_thread_died}; {PROBES} messages"
            f" sent afterwards took {self.probe_summary()} to be delivered;"
            f" {self.delayed_backlog} messages left in {DELAYED_QUEUE_KEY}."
            f"\n  timeline:\n{self.timeline}"
        )

    def duplicate_sends(self) -> list[float]:
        kept = {row["provider_message_id"] for row in self.messages}
        return sorted(round(seen, 2) for provider_id, seen in self.sandbox_accepted.items()
                      if provider_id not in kept)  # fmt: skip

    def probe_summary(self) -> str:
        """E.g. `0.31 s after the chaos, over 2.5 s after extra outage 1`."""
        if not self.probes:
            return "(no probe was sent)"
        return ", ".join(
            (f"{seconds:.2f} s" if math.isfinite(seconds) else f"over {PROMPT_SECONDS} s")
            + (f" after extra outage {number}" if number else " after the chaos")
            for number, seconds in enumerate(self.probes)
        )


async def run_chaos(directory: Path) -> ChaosRun:
    run = ChaosRun()
    database_url = await create_database(directory)
    redis = RedisServer(directory / "redis")
    tap: MonitorTap | None = None
    server: ServerProcess | None = None
    workers: list[WorkerProcess] = []
    db: asyncpg.Connection | None = None
    began = time.monotonic()
    try:
        redis.start()
        tap = MonitorTap(redis, PROVIDER_ID).start()
        extra = {"WECONN_REDIS_URL": redis.url, **TIMINGS}
        server = start_server(directory / "data", database_url, **extra)
        workers = [
            start_worker(f"worker{n}", directory / "data", database_url, threads=WORKER_THREADS, **extra)
            for n in (1, 2)
        ]
        for worker in workers:
            worker.wait_consuming()
        victim, survivor = workers
        db = await asyncpg.connect(asyncpg_dsn(database_url))
        headers = {"X-API-Key": server.demo_key}
        client = httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60)
        started = time.monotonic()
        progress = Progress(db, started)
        try:
            batches = await asyncio.gather(*(send_batch(client, n, BATCH_SIZE) for n in range(BATCHES)))
            run.ids = [message_id for ids in batches for message_id in ids]
            run.accepted_in = time.monotonic() - started

            # Chaos: SIGKILL one worker mid-flow (it holds claimed sends and prefetched messages),
            # then kill Redis (every queue, delayed receipt and ack list is gone) and start it
            # again, empty, on the same port.
            run.at_worker_kill = await progress.wait_for(lambda c: through(c) >= KILL_WORKER_AFTER, 60)
            victim.kill()
            killed_at = time.monotonic()
            run.worker_killed_at = killed_at - started
            await asyncio.sleep(REDIS_KILL_AFTER_SECONDS)
            run.at_redis_kill = await progress.now()
            redis.kill()
            await asyncio.sleep(REDIS_DOWN_SECONDS)
            redis.start()

            run.final = await progress.wait_for(
                lambda c: c.get("delivered", 0) == TOTAL, SETTLE_DEADLINE_SECONDS
            )
            if run.final.get("delivered", 0) == TOTAL:
                run.settled_in = time.monotonic() - killed_at
            run.survivor_alive = survivor.process.poll() is None
            run.worst_claimable_with_provider_id = progress.worst_claimable_with_provider_id()
            run.sandbox_accepted = {pid: seen - killed_at for pid, seen in tap.matches().items()}
            run.tap_reconnections = tap.gaps
            run.messages = await db.fetch(
                "SELECT id, status, attempts, provider_message_id FROM messages WHERE id = ANY($1::int[])",
                run.ids,
            )
            events = await db.fetch(
                "SELECT message_id, status, detail FROM message_events"
                " WHERE message_id = ANY($1::int[]) ORDER BY id",
                run.ids,
            )
            run.history = {message_id: [] for message_id in run.ids}
            for event in events:
                run.history[event["message_id"]].append(event["status"])
                if event["status"] == "sent":
                    detail = json.loads(event["detail"])
                    run.sent_with[event["message_id"]] = detail["provider_message_id"]

            # Afterwards, receipts must still come by the fast path; while they do, Redis goes away
            # again with receipts falling due (the idle worker is then nearly always enqueueing
            # one when Redis is gone, the condition that stops its delayed-queue consumer).
            if run.survivor_alive and run.final.get("delivered", 0) == TOTAL:
                run.probes.append(await probe(client, db, BATCHES))
                while math.isfinite(run.probes[-1]) and len(run.probes) <= EXTRA_OUTAGES:
                    moment = time.time() + 0.3
                    enqueue_receipts_falling_due_around(redis.url, moment)
                    await asyncio.sleep(max(0.0, moment - time.time()))
                    redis.kill()
                    await asyncio.sleep(EXTRA_OUTAGE_SECONDS)
                    redis.start()
                    await asyncio.sleep(CONSUMER_RESTART_WAIT_SECONDS)
                    run.probes.append(await probe(client, db, BATCHES + len(run.probes)))
                run.consumer_thread_died = any("Exception in thread" in line for line in survivor.output)
                with Redis.from_url(redis.url) as client_redis:
                    run.delayed_backlog = int(client_redis.llen(DELAYED_QUEUE_KEY))
        finally:
            await client.aclose()
            run.timeline = progress.render()
        run.logs = (
            f"{survivor.log()}\n{victim.log(20)}\n--- serve ---\n{''.join(server.output[-30:])}\n"
            f"--- redis ---\n{redis.log_tail(10)}"
        )
    finally:
        run.total_seconds = time.monotonic() - began
        if tap is not None:
            tap.stop()
        stop_all([worker.process for worker in workers] + ([server.process] if server is not None else []))
        redis.stop()
        if db is not None:
            await db.close()
        await drop_database(database_url)
    return run


@pytest.fixture(scope="module")
async def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> ChaosRun:
    run = await run_chaos(tmp_path_factory.mktemp("chaos"))
    print("\n" + run.report())
    return run


@pytest.mark.e2e
def test_every_message_is_delivered_once_despite_a_killed_worker_and_a_redis_restart(
    chaos_run: ChaosRun,
) -> None:
    run = chaos_run
    assert len(set(run.ids)) == TOTAL
    assert through(run.at_worker_kill) >= KILL_WORKER_AFTER, f"no progress before the kill\n{run.logs}"
    assert through(run.at_redis_kill) < TOTAL, "nothing was left to lose with Redis"
    assert run.final.get("delivered", 0) == TOTAL, (
        f"not every message was delivered {SETTLE_DEADLINE_SECONDS:.0f} s after the chaos: {run.final}\n"
        f"{run.timeline}\n{run.logs}"
    )
    assert run.survivor_alive, f"the surviving worker exited\n{run.logs}"

    assert sorted(row["id"] for row in run.messages) == sorted(run.ids)
    assert {row["status"] for row in run.messages} == {"delivered"}
    odd = {message_id: seen for message_id, seen in run.history.items() if seen != EXPECTED_EVENTS}
    assert not odd, f"{len(odd)} messages without exactly {EXPECTED_EVENTS}: {list(odd.items())[:10]}"
    provider_ids = {row["id"]: row["provider_message_id"] for row in run.messages}
    assert None not in provider_ids.values()
    assert len(set(provider_ids.values())) == TOTAL, "two messages share a provider message id"
    assert run.sent_with == provider_ids, "a `sent` event names another provider id than its message"
    assert run.worst_claimable_with_provider_id == 0, (
        f"a message could be claimed again while its provider id was recorded\n{run.timeline}"
    )
    # A message sent again after the kill is the same message to the sandbox (its idempotent id):
    # every id it handed out is one a message kept, so it received each message exactly once.
    assert run.duplicate_sends() == [], "the sandbox received a message twice"


@pytest.mark.e2e
def test_receipts_still_arrive_promptly_after_redis_restarts(chaos_run: ChaosRun) -> None:
    run = chaos_run
    assert run.probes, f"no probe was sent: {run.final}"
    assert all(math.isfinite(seconds) for seconds in run.probes), (
        f"{PROBES} messages sent after a Redis restart took {run.probe_summary()} to be delivered (the"
        f" sandbox's receipt comes after 100 ms, reconciliation after {RECEIPT_TIMEOUT_SECONDS} s);"
        f" {run.delayed_backlog} messages stuck in {DELAYED_QUEUE_KEY}\n{run.logs}"
    )
