"""Acceptance: a 100,000-contact campaign in scaled-out mode survives a worker killed mid fan-out.

`weconn serve` and `weconn worker` processes on a fresh PostgreSQL database and a Redis server of
this module's own. 100,000 contacts are loaded with COPY: some have no email and some opted out
of email, so an email campaign must skip them. The campaign is sent with one worker consuming;
once its fan-out is well under way a second worker starts and the first (the one holding the
fan-out) is killed with SIGKILL. The survivor's scheduler notices the silent fan-out and resumes
it from its last committed chunk. Both workers consume only the `campaigns` queue
(`weconn worker --queues campaigns`): the 100,000 sends wait in Redis, so the fan-out is all the
workers do (delivering them beside it would make the test minutes longer and prove nothing more
about the fan-out; counters under concurrent sends are checked by the campaign snippet test).

Afterwards, with every process stopped: exactly one message per eligible contact, none for the
others, skipped contacts counted, and the campaign's counters equal to a direct count.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import BACKEND, create_database, drop_database
from tests.support.redis_server import REDIS_SERVER, RedisServer
from tests.support.server import ServerProcess, start_server
from tests.support.worker_processes import WorkerProcess, start_worker, stop_all

CONTACTS = 100_000
NO_EMAIL_EVERY = 50  # every 50th contact has only a phone: 2,000 skipped
OPTED_OUT_EVERY = 97  # every 97th (with an email) opted out of email
KILL_AFTER = 25_000  # contacts fanned out when the fan-out's worker is killed
STALL_SECONDS = 3
DEADLINE_SECONDS = 300.0
API = "/api/v1/integrations/campaigns"
SETTINGS = {
    "WECONN_CAMPAIGN_STALL_SECONDS": str(STALL_SECONDS),
    "WECONN_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "WECONN_SWEEP_INTERVAL_SECONDS": "1",
    "WECONN_SWEEP_STALE_SECONDS": "5",
    "WECONN_SANDBOX_DELIVERY_DELAY_MS": "100",
}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        BACKEND != "postgresql", reason="scaled-out mode (Redis, weconn worker) needs PostgreSQL"
    ),
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (make test installs it)"),
]


@dataclass
class CampaignRun:
    campaign_id: int = 0
    tenant_id: int = 0
    killed_at_total: int = 0
    fan_out_seconds: float = 0.0
    expected_skipped: int = 0
    eligible_emails: set[str] = field(default_factory=set)
    message_rows: list[tuple[int, str]] = field(default_factory=list)  # (contact id, to)
    counters: dict[str, int] = field(default_factory=dict)
    direct: dict[str, int] = field(default_factory=dict)
    campaign_status: str = ""
    resumed_log: bool = False


def plain_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def load_audience(db: asyncpg.Connection, tenant_id: int, run: CampaignRun) -> None:
    now = datetime.now(UTC)
    rows = []
    opted_out = []
    for n in range(CONTACTS):
        email = None if n % NO_EMAIL_EVERY == 0 else f"reader-{n}@example.com"
        phone = f"+4076{n:07d}" if email is None else None
        rows.append((tenant_id, f"Reader {n}", email, phone, "[]", json.dumps({"n": n}), now, now))
        if email is not None and n % OPTED_OUT_EVERY == 0:
            opted_out.append((tenant_id, "email", email, "api", now))
        elif email is not None:
            run.eligible_emails.add(email)
    columns = ["tenant_id", "name", "email", "phone", "tags", "metadata", "created_at", "updated_at"]
    await db.copy_records_to_table("contacts", records=rows, columns=columns)
    await db.copy_records_to_table(
        "opt_outs", records=opted_out, columns=["tenant_id", "channel", "address", "source", "created_at"]
    )
    run.expected_skipped = CONTACTS - len(run.eligible_emails)


async def fanned_out(db: asyncpg.Connection, campaign_id: int) -> tuple[int, bool]:
    total = await db.fetchval(
        "SELECT coalesce(sum(total), 0) FROM campaign_counters WHERE campaign_id = $1", campaign_id
    )
    done = await db.fetchval("SELECT fanout_done FROM campaigns WHERE id = $1", campaign_id)
    return int(total), bool(done)


async def wait_for_total(
    db: asyncpg.Connection, campaign_id: int, at_least: int, *, done: bool = False
) -> int:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        total, finished = await fanned_out(db, campaign_id)
        if total >= at_least and (finished or not done):
            return total
        await asyncio.sleep(0.1)
    raise AssertionError(f"campaign {campaign_id}: fan-out stuck at {total} (done={finished})")


async def record_outcome(db: asyncpg.Connection, run: CampaignRun) -> None:
    rows = await db.fetch('SELECT contact_id, "to" FROM messages WHERE campaign_id = $1', run.campaign_id)
    run.message_rows = [(row["contact_id"], row["to"]) for row in rows]
    buckets = (
        "total",
        "skipped",
        "queued",
        "sending",
        "sent",
        "delivered",
        "read",
        "undelivered",
        "failed",
        "cancelled",
    )
    sums = ", ".join(f"sum({name}) AS {name}" for name in buckets)
    counters = await db.fetchrow(
        f"SELECT {sums} FROM campaign_counters WHERE campaign_id = $1", run.campaign_id
    )
    run.counters = {name: int(counters[name]) for name in buckets}
    by_status = await db.fetch(
        "SELECT status, count(*) AS n FROM messages WHERE campaign_id = $1 GROUP BY status", run.campaign_id
    )
    run.direct = {row["status"]: int(row["n"]) for row in by_status}
    run.campaign_status = await db.fetchval("SELECT status FROM campaigns WHERE id = $1", run.campaign_id)


async def run_campaign(directory: Path) -> CampaignRun:
    run = CampaignRun()
    database_url = await create_database(directory)
    redis = RedisServer(directory / "redis")
    server: ServerProcess | None = None
    workers: list[WorkerProcess] = []
    db: asyncpg.Connection | None = None
    try:
        redis.start()
        extra = {"WECONN_REDIS_URL": redis.url, **SETTINGS}
        server = start_server(directory / "data", database_url, **extra)
        db = await asyncpg.connect(plain_dsn(database_url))
        run.tenant_id = await db.fetchval("SELECT id FROM tenants WHERE slug = 'demo'")
        await load_audience(db, run.tenant_id, run)
        first = start_worker(
            "worker1", directory / "data", database_url, threads=4, queues="campaigns", **extra
        )
        workers.append(first)
        first.wait_consuming()
        headers = {"X-API-Key": server.demo_key}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:
            body = {
                "name": "Big",
                "channel": "email",
                "message_template": "Hello {{ name }}",
                "subject": "Hi",
            }
            created = await client.post(API, json=body)
            assert created.status_code == 201, created.text
            run.campaign_id = created.json()["data"]["id"]
            began = time.monotonic()
            sent = await client.post(f"{API}/{run.campaign_id}/send")
            assert sent.status_code == 202, sent.text
            second = start_worker(
                "worker2", directory / "data", database_url, threads=4, queues="campaigns", **extra
            )
            workers.append(second)
            run.killed_at_total = await wait_for_total(db, run.campaign_id, KILL_AFTER)
            first.kill()  # it took the fan-out: worker2 was not consuming yet when it was enqueued
            second.wait_consuming()
            try:
                await wait_for_total(db, run.campaign_id, CONTACTS, done=True)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{second.log(80)}") from None
            run.fan_out_seconds = time.monotonic() - began
            status = (await client.get(f"{API}/{run.campaign_id}/status")).json()["data"]
            assert status["stats"]["total"] == CONTACTS, status
        stop_all([worker.process for worker in workers] + [server.process])
        run.resumed_log = any("resuming the fan-out" in line for line in second.output)
        await record_outcome(db, run)
    finally:
        stop_all([worker.process for worker in workers] + ([server.process] if server is not None else []))
        if db is not None:
            await db.close()
        redis.stop()
        await drop_database(database_url)
    return run


@pytest.fixture(scope="module")
async def campaign_run(tmp_path_factory: pytest.TempPathFactory) -> CampaignRun:
    run = await run_campaign(tmp_path_factory.mktemp("campaign-chaos"))
    print(
        f"\ncampaign chaos: killed the fan-out's worker at {run.killed_at_total:,} of {CONTACTS:,} contacts;"
        f" fan-out done in {run.fan_out_seconds:.1f} s; messages {len(run.message_rows):,};"
        f" counters {run.counters}; direct {run.direct}"
    )
    return run


def test_the_fan_out_was_killed_mid_way_and_resumed(campaign_run: CampaignRun) -> None:
    assert KILL_AFTER <= campaign_run.killed_at_total < CONTACTS
    assert campaign_run.resumed_log, "the surviving worker's scheduler should have resumed the fan-out"


def test_exactly_one_message_per_eligible_contact(campaign_run: CampaignRun) -> None:
    contact_ids = [contact_id for contact_id, _ in campaign_run.message_rows]
    assert len(contact_ids) == len(set(contact_ids))
    assert {to for _, to in campaign_run.message_rows} == campaign_run.eligible_emails
    assert len(campaign_run.message_rows) == len(campaign_run.eligible_emails)


def test_skipped_contacts_are_counted(campaign_run: CampaignRun) -> None:
    assert campaign_run.counters["total"] == CONTACTS
    assert campaign_run.counters["skipped"] == campaign_run.expected_skipped


def test_final_stats_equal_a_direct_count(campaign_run: CampaignRun) -> None:
    counted = {
        name: value for name, value in campaign_run.counters.items() if name not in ("total", "skipped")
    }
    assert counted == {name: campaign_run.direct.get(name, 0) for name in counted}
    assert sum(counted.values()) + campaign_run.counters["skipped"] == campaign_run.counters["total"]
