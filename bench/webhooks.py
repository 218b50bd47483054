"""Load benchmark of outgoing webhooks (issue 6): deliveries per second to a local receiver, and the
latency a webhook adds from the status change to its arrival.

    .venv/bin/python bench/webhooks.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
    .venv/bin/python bench/webhooks.py --database-url ... --events 6000 --skip-embedded   # quicker

The receiver (bench/webhook_receiver.py) is a bare asyncio HTTP server in its own process answering
every POST with 204; it counts `webhook-id`s (duplicates) and keeps each request, whose signature is
verified after the measurement with the `standardwebhooks` package. One endpoint of the demo tenant
(registered over REST, `WECONN_WEBHOOK_ALLOW_PRIVATE=true`) receives `message.queued`, `.sent` and
`.delivered`.

0. Ceilings, same run: wrk (64 connections) POSTing a webhook-sized body to the receiver (the
   receiver's ceiling), then one Python process (this one) POSTing signed bodies to it with aiohttp,
   --concurrency requests in flight (what one Python loop can send with no database).
1. Scaled out (PostgreSQL, fresh database; a redis-server of its own; `weconn serve`; --workers
   `weconn worker --threads 16`, whose dispatchers read the event stream):
   a. webhook stage alone, burst: --events message events (3 per message; the messages written as
      `delivered`, so no worker sends them) are inserted straight into the database in one
      transaction; deliveries/s = events / (from just before that transaction until the receiver
      has the last one).
   b. webhook stage alone, paced: --rate events per second for --paced-seconds, inserted every 20 ms
      with `occurred_at` = their insert time; the latency at that load.
   c. end to end: --messages SMS through send-batch (batches of 500) on the demo tenant's sandbox
      integration (queued, sent, delivered: 3 events each); deliveries/s from the first request.
2. Embedded default (`weconn serve` on SQLite, the in-process queue): a., with --embedded-events.

Latency of a delivery = its arrival at the receiver (`time.time()`) - the event's `occurred_at` (the
body's `timestamp`), so it includes the dispatcher's polling (every 0.25 s by default). Every run
also checks the database: every delivery `succeeded` with exactly one attempt recorded. Any duplicate,
missing delivery, bad signature or unexpected database state prints a THIS RUN HAD ERRORS banner and
exits 1, as does a missed target (>= 1,000 deliveries/s in 1a). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from campaign import deadlock_count, keep_logs, poll_until, print_cpu, wait_quiet
from contacts import fresh_database, read_api_key
from harness import (
    BENCH_DIR,
    REPO_DIR,
    Server,
    exit_cleanly_on_sigterm,
    free_port,
    http_json,
    lua_script,
    machine_description,
    require_fast_uvicorn,
    require_wrk,
    run_wrk,
    serve,
)
from send import Api, Findings, print_profile, report
from services import (
    CpuMeter,
    Worker,
    py_spy_recording,
    redis_server,
    serve_weconn,
    weconn_env,
    weconn_workers,
)
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from standardwebhooks import Webhook, WebhookVerificationError

from gateway.tables import (
    Message,
    MessageEvent,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDispatchCursor,
)
from gateway.tables.columns import table_of
from resolvers.webhook_signing import new_webhook_id, signed_headers

WEBHOOKS = "/api/v1/integrations/webhooks"
SEND_BATCH = "/api/v1/integrations/messages/send-batch"
BATCH_SIZE = 500
LIFECYCLE = ("queued", "sent", "delivered")
EVENTS = ["message.queued", "message.sent", "message.delivered"]
MESSAGES = table_of(Message)
MESSAGE_EVENTS = table_of(MessageEvent)
TENANTS = table_of(Tenant)
DELIVERIES = table_of(WebhookDelivery)
ATTEMPTS = table_of(WebhookAttempt)
CURSORS = table_of(WebhookDispatchCursor)
PACE_SECONDS = 0.02
SAMPLE_BODY = orjson.dumps({
    "type": "message.delivered", "timestamp": "2026-04-01T10:00:00.123456Z",
    "data": {"message_id": 123456, "status": "delivered", "channel": "sms", "to": "+40741234567",
             "batch_id": None, "campaign_id": None, "occurred_at": "2026-04-01T10:00:00.123456Z"},
})  # fmt: skip
TARGET_RATE = 1000.0  # deliveries per second, 1a


@dataclass(frozen=True)
class Options:
    database_url: str | None
    events: int
    embedded_events: int
    rate: int
    paced_seconds: float
    messages: int
    workers: int
    worker_threads: int
    concurrency: int
    ceiling_seconds: int
    skip_embedded: bool
    skip_paced: bool
    skip_e2e: bool
    timeout: float
    profile_dir: Path | None
    py_spy: str | None
    logs_dir: Path | None


@dataclass(frozen=True)
class Ceiling:
    wrk_rps: float
    python_rps: float


@dataclass
class Run:
    name: str
    expected: int
    seconds: float = 0.0  # from the first event (or request) until the last arrival
    received: int = 0
    distinct: int = 0
    duplicates: int = 0
    bad_signatures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    database: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    offered_rate: float | None = None  # paced runs: events per second inserted

    @property
    def rate(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0

    @property
    def missing(self) -> int:
        return max(self.expected - self.distinct, 0)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Stage:
    """A running service: its API, the receiver, the database URL the bench writes to, the processes."""

    label: str
    api: Api
    receiver: Server
    store_url: str
    secret: str
    pids: dict[str, int]
    profiled: list[tuple[str, int]]  # (name, pid) of the processes that deliver
    workers: list[Worker] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    wrk = require_wrk()
    require_fast_uvicorn()
    exit_cleanly_on_sigterm()
    print_header(options)
    findings = Findings()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="weconn-webhooks-bench-") as tmp:
        workdir = Path(tmp)
        with serve_receiver(workdir) as receiver:
            ceiling = measure_ceiling(wrk, receiver, workdir, options)
            if options.database_url is None:
                print("\n1. scaled out: skipped (it needs --database-url)")
            else:
                runs += run_scaled(receiver, workdir / "scaled", options, findings)
            if not options.skip_embedded:
                runs += run_embedded(receiver, workdir / "embedded", options, findings)
    print_results(runs, ceiling, options)
    for run in runs:
        if run.name.startswith("1a"):
            findings.judge(
                f"{run.name}: deliveries/s",
                f"{run.rate:,.0f}",
                f">= {TARGET_RATE:,.0f}",
                met=run.rate >= TARGET_RATE,
            )
    return report(findings)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="postgresql+asyncpg://USER@HOST:PORT/ADMIN_DB (a fresh db is made)"
    )
    parser.add_argument("--events", type=int, default=15_000, help="events of the burst, 1a (default 15,000)")
    parser.add_argument(
        "--embedded-events", type=int, default=3_000, help="events of the burst, 2 (default 3,000)"
    )
    parser.add_argument("--rate", type=int, default=500, help="events per second in 1b (default 500)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of 1b (default 10 s)")
    parser.add_argument("--messages", type=int, default=2_000, help="messages sent in 1c (default 2,000)")
    parser.add_argument("--workers", type=int, default=2, help="weconn worker processes (default 2)")
    parser.add_argument("--worker-threads", type=int, default=16, help="weconn worker --threads (default 16)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, Python ceiling")
    parser.add_argument("--ceiling-seconds", type=int, default=5, help="length of each ceiling run")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a run may take (default 300)")
    parser.add_argument(
        "--profile", type=Path, help="record py-spy profiles of the delivering processes here"
    )
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    parser.add_argument("--logs", type=Path, help="copy every process's log into this directory")
    args = parser.parse_args(argv)
    py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy: pip install py-spy in a separate venv and pass --py-spy PATH")
    if min(args.events, args.embedded_events, args.rate, args.messages) < 3 or args.workers < 1:
        parser.error("event and message counts must be at least 3, workers at least 1")
    return Options(
        database_url=args.database_url, events=args.events - args.events % 3,
        embedded_events=args.embedded_events - args.embedded_events % 3, rate=args.rate,
        paced_seconds=args.paced_seconds, messages=args.messages, workers=args.workers,
        worker_threads=args.worker_threads, concurrency=args.concurrency,
        ceiling_seconds=args.ceiling_seconds,
        skip_embedded=args.skip_embedded, skip_paced=args.skip_paced, skip_e2e=args.skip_e2e,
        timeout=args.timeout, profile_dir=args.profile, py_spy=py_spy if args.profile else None,
        logs_dir=args.logs,
    )  # fmt: skip


# --- the receiver and its ceilings --------------------------------------------------------------


def serve_receiver(workdir: Path) -> AbstractContextManager[Server]:
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "webhook_receiver.py"), str(port)]
    log_path = workdir / "receiver.log"
    return serve("receiver", command, env=os.environ, port=port, log_path=log_path, ready_path="/_stats")


def receiver_stats(receiver: Server) -> dict[str, Any]:
    status, stats = http_json("GET", receiver.url + "/_stats")
    if status != 200:
        raise RuntimeError(f"the receiver's /_stats answered {status}")
    return dict(stats)


def reset_receiver(receiver: Server) -> None:
    http_json("POST", receiver.url + "/_reset", {})


def measure_ceiling(wrk: str, receiver: Server, workdir: Path, options: Options) -> Ceiling:
    print("\n== 0. ceilings of the receiver", flush=True)
    headers = signed_headers(["whsec_" + "A" * 43 + "="], new_webhook_id(), int(time.time()), SAMPLE_BODY)
    lua = f'wrk.method = "POST"\nwrk.body = {lua_string_literal(SAMPLE_BODY.decode())}\n' + "".join(
        f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items()
    )
    script = workdir / "ceiling.lua"
    script.write_text(lua_script(lua))
    result = run_wrk(
        wrk, "receiver ceiling", receiver.url + "/ceiling", script,
        duration=options.ceiling_seconds, connections=64, threads=2,
    )  # fmt: skip
    if result.failed:
        raise RuntimeError(f"the receiver failed under wrk: {result}")
    print(f"  wrk, 64 connections: {result.ok_rps:,.0f} req/s (p50 {result.p50_ms:.2f} ms)", flush=True)
    python_rps = asyncio.run(python_ceiling(receiver.url + "/ceiling", options))
    print(
        f"  one Python process (aiohttp, {options.concurrency} in flight, each body signed): "
        f"{python_rps:,.0f} req/s",
        flush=True,
    )
    reset_receiver(receiver)
    return Ceiling(result.ok_rps, python_rps)


def lua_string_literal(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def python_ceiling(url: str, options: Options) -> float:
    """Requests per second one event loop completes, each signed as a delivery is."""
    secret = "whsec_" + "A" * 43 + "="
    done = 0
    deadline = time.monotonic() + options.ceiling_seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=options.concurrency)) as session:

        async def sender() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                headers = signed_headers([secret], new_webhook_id(), int(time.time()), SAMPLE_BODY)
                async with session.post(url, data=SAMPLE_BODY, headers=headers) as response:
                    await response.read()
                    if response.status != 204:
                        raise RuntimeError(f"the receiver answered {response.status}")
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(options.concurrency)))
        return done / (time.monotonic() - started)


# --- the service ----------------------------------------------------------------------------------


def run_scaled(receiver: Server, workdir: Path, options: Options, findings: Findings) -> list[Run]:
    workdir.mkdir(parents=True)
    runs: list[Run] = []
    print(f"\n== 1. scaled out: PostgreSQL + Redis, {options.workers} x weconn worker", flush=True)
    with ExitStack() as stack:
        database_url, description = stack.enter_context(fresh_database(options.database_url))
        assert database_url is not None
        deadlocks: list[int] = []
        stack.callback(lambda: deadlocks.append(asyncio.run(deadlock_count(database_url))))
        stack.callback(keep_logs, workdir, options.logs_dir)
        print(f"  database: {description}", flush=True)
        redis = stack.enter_context(redis_server(workdir))
        env = weconn_env(
            workdir / "data",
            {
                "WECONN_DATABASE_URL": database_url,
                "WECONN_REDIS_URL": redis.url,
                "WECONN_WEBHOOK_ALLOW_PRIVATE": "true",
            },
        )
        server = stack.enter_context(serve_weconn(workdir, "weconn", env))
        api = Api(server, read_api_key(server))
        secret = register_endpoint(api, receiver)
        workers = stack.enter_context(
            weconn_workers(workdir, options.workers, threads=options.worker_threads, env=env)
        )
        pids = {
            "API (weconn serve)": server.pid, **{w.name: w.pid for w in workers},
            "receiver": receiver.pid, "redis-server": redis.process.pid,
        }  # fmt: skip
        stage = Stage(
            "scaled", api, receiver, database_url, secret, pids, [(w.name, w.pid) for w in workers], workers
        )
        wait_for_cursor(database_url)
        runs.append(
            burst(stage, "1a. scaled out, webhook stage alone (burst)", options.events, options, findings)
        )
        if not options.skip_paced:
            runs.append(paced(stage, "1b. scaled out, webhook stage alone (paced)", options, findings))
        if not options.skip_e2e:
            runs.append(
                end_to_end(stage, "1c. scaled out, end to end (send-batch, sandbox)", options, findings)
            )
        errors = sum(worker.log_text().count("Traceback") for worker in workers)
        if errors:
            findings.errors.append(f"scaled out: {errors} tracebacks in the worker logs")
    if deadlocks and deadlocks[0]:
        findings.errors.append(f"scaled out: PostgreSQL detected {deadlocks[0]} deadlocks")
    return runs


def run_embedded(receiver: Server, workdir: Path, options: Options, findings: Findings) -> list[Run]:
    workdir.mkdir(parents=True)
    print("\n== 2. embedded default: weconn serve on SQLite", flush=True)
    with ExitStack() as stack:
        stack.callback(keep_logs, workdir, options.logs_dir)
        env = weconn_env(workdir / "data", {"WECONN_WEBHOOK_ALLOW_PRIVATE": "true"})
        server = stack.enter_context(serve_weconn(workdir, "weconn", env))
        api = Api(server, read_api_key(server))
        secret = register_endpoint(api, receiver)
        store_url = f"sqlite+aiosqlite:///{workdir / 'data' / 'weconn.db'}"
        pids = {"weconn serve": server.pid, "receiver": receiver.pid}
        stage = Stage("embedded", api, receiver, store_url, secret, pids, [("weconn serve", server.pid)])
        wait_for_cursor(store_url)
        run = burst(
            stage,
            "2. embedded SQLite, webhook stage alone (burst)",
            options.embedded_events,
            options,
            findings,
        )
        if "Traceback" in server.log_text():
            findings.errors.append("embedded: tracebacks in the server log")
    return [run]


def register_endpoint(api: Api, receiver: Server) -> str:
    body = {"url": receiver.url + "/hook", "events": EVENTS, "description": "bench"}
    status, answer = http_json("POST", api.server.url + WEBHOOKS, body, api.headers)
    if status != 201:
        raise RuntimeError(f"registering the endpoint answered {status}: {answer}")
    return str(answer["data"]["secret"])


def engine_for(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30})
    return create_async_engine(url)


def wait_for_cursor(store_url: str, timeout: float = 30) -> None:
    """The dispatcher starts a stream after its last event, so events go in once its cursor exists."""

    async def exists() -> bool:
        engine = engine_for(store_url)
        try:
            async with engine.connect() as connection:
                query = select(CURSORS.c.stream).where(CURSORS.c.stream == "message_events")
                return (await connection.execute(query)).first() is not None
        finally:
            await engine.dispose()

    deadline = time.monotonic() + timeout
    while not asyncio.run(exists()):
        if time.monotonic() > deadline:
            raise RuntimeError("no dispatcher created the message_events cursor")
        time.sleep(0.2)


# --- the runs ----------------------------------------------------------------------------------------


async def insert_events(engine: AsyncEngine, tenant_id: int, messages: int, first: int) -> None:
    """`messages` SMS messages, already `delivered`, with their three events, in one transaction."""
    now = datetime.now(UTC)
    rows = [
        {"tenant_id": tenant_id, "channel": "sms", "route": "integration", "provider": "sandbox",
         "to": f"+4075{(first + index) % 10_000_000:07d}", "body": "bench", "variables": {},
         "status": "delivered", "previous_status": "sent", "attempts": 1, "created_at": now,
         "updated_at": now}
        for index in range(messages)
    ]  # fmt: skip
    async with engine.begin() as connection:
        ids = list((await connection.execute(insert(MESSAGES).returning(MESSAGES.c.id), rows)).scalars())
        events = [
            {
                "tenant_id": tenant_id,
                "message_id": message_id,
                "status": status,
                "detail": {},
                "occurred_at": now,
            }
            for message_id in ids
            for status in LIFECYCLE
        ]
        await connection.execute(insert(MESSAGE_EVENTS), events)


async def demo_tenant(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(TENANTS.c.id).where(TENANTS.c.slug == "demo"))).scalar_one()
        )


def burst(stage: Stage, name: str, events: int, options: Options, findings: Findings) -> Run:
    print(f"\n-- {name}: {events:,} events in one transaction", flush=True)
    run = Run(name, expected=events)

    async def drive() -> float:
        engine = engine_for(stage.store_url)
        try:
            tenant_id = await demo_tenant(engine)
            started = time.time()
            await insert_events(engine, tenant_id, events // 3, 0)
            return started
        finally:
            await engine.dispose()

    return measure(stage, run, options, findings, lambda: asyncio.run(drive()))


def paced(stage: Stage, name: str, options: Options, findings: Findings) -> Run:
    chunks = round(options.paced_seconds / PACE_SECONDS)
    per_chunk = max(1, round(options.rate * PACE_SECONDS / 3))
    print(
        f"\n-- {name}: {per_chunk * 3} events every {PACE_SECONDS * 1000:.0f} ms "
        f"for {options.paced_seconds:g} s ({per_chunk * 3 / PACE_SECONDS:,.0f} events/s)",
        flush=True,
    )
    run = Run(name, expected=chunks * per_chunk * 3)

    async def drive() -> float:
        engine = engine_for(stage.store_url)
        try:
            tenant_id = await demo_tenant(engine)
            started = time.time()
            for chunk in range(chunks):
                await insert_events(engine, tenant_id, per_chunk, 1_000_000 + chunk * per_chunk)
                await asyncio.sleep(max(0.0, started + (chunk + 1) * PACE_SECONDS - time.time()))
            run.offered_rate = chunks * per_chunk * 3 / (time.time() - started)
            return started
        finally:
            await engine.dispose()

    return measure(stage, run, options, findings, lambda: asyncio.run(drive()))


def end_to_end(stage: Stage, name: str, options: Options, findings: Findings) -> Run:
    batches = -(-options.messages // BATCH_SIZE)
    print(f"\n-- {name}: {options.messages:,} SMS in {batches} batches", flush=True)
    run = Run(name, expected=options.messages * 3)

    def drive() -> float:
        started = time.time()
        for first in range(0, options.messages, BATCH_SIZE):
            count = min(BATCH_SIZE, options.messages - first)
            recipients = [{"to": f"+4076{(first + index):07d}"} for index in range(count)]
            body = {"channel": "sms", "body": "hooked", "recipients": recipients}
            status, answer = http_json(
                "POST", stage.api.server.url + SEND_BATCH, body, stage.api.headers, timeout=60
            )
            if status != 202:
                findings.errors.append(f"{name}: send-batch answered {status}: {answer}")
        return started

    return measure(stage, run, options, findings, drive)


def measure(stage: Stage, run: Run, options: Options, findings: Findings, drive: Any) -> Run:
    """Runs `drive` (-> its start time) under the CPU meter and py-spy, waits for every delivery,
    then reads the receiver and the database."""
    wait_quiet(stage.pids, threshold=0.5)
    reset_receiver(stage.receiver)
    meter = CpuMeter(stage.pids)
    profiles = [
        profile_path(options, f"{stage.label}-{_slug(run.name[:3])}-{_slug(name)}")
        for name, _ in stage.profiled
    ]
    with ExitStack() as recording:
        for (_, pid), profile in zip(stage.profiled, profiles, strict=True):
            recording.enter_context(py_spy_recording(options.py_spy, pid, profile))
        meter.start()
        started = drive()

        def progress() -> tuple[bool, object]:
            stats = receiver_stats(stage.receiver)
            return stats["distinct"] >= run.expected, stats["distinct"]

        gave_up = poll_until(
            progress, timeout=options.timeout, stall=30, interval=0.1,
            alive=lambda: next((w.name for w in stage.workers if w.process.poll() is not None), None),
        )  # fmt: skip
        run.cpu = meter.stop()
    if gave_up:
        findings.errors.append(f"{run.name}: gave up waiting for the receiver: {gave_up}")
    time.sleep(1.0)  # a duplicate would arrive by now
    stats = receiver_stats(stage.receiver)
    run.received, run.distinct, run.duplicates = stats["received"], stats["distinct"], stats["duplicates"]
    run.seconds = (stats["last_at"] or time.time()) - started
    read_deliveries(stage, run)
    run.database = asyncio.run(database_state(stage.store_url))
    check(run, findings)
    print_run(run)
    print_cpu(run.cpu)
    for profile in profiles:
        print_profile(profile, run.seconds)
    return run


def read_deliveries(stage: Stage, run: Run) -> None:
    """Latencies from the kept requests; each signature verified with `standardwebhooks`."""
    status, kept = http_json("GET", stage.receiver.url + "/_dump", timeout=60)
    if status != 200:
        raise RuntimeError(f"the receiver's /_dump answered {status}")
    verifier = Webhook(stage.secret)
    for webhook_id, received_at, timestamp, signature, body in kept:
        headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
        try:
            payload = verifier.verify(body, headers)
        except WebhookVerificationError:
            run.bad_signatures += 1
            continue
        occurred = datetime.fromisoformat(payload["timestamp"]).timestamp()
        run.latencies_ms.append((received_at - occurred) * 1000)


async def database_state(store_url: str) -> dict[str, int]:
    """Deliveries by status, and the attempts recorded, over the whole database."""
    engine = engine_for(store_url)
    try:
        async with engine.connect() as connection:
            query = select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status)
            state = {f"deliveries {status}": int(count) for status, count in await connection.execute(query)}
            state["deliveries"] = sum(state.values())
            state["attempts"] = int(
                (await connection.execute(select(func.count()).select_from(ATTEMPTS))).scalar_one()
            )
            return state
    finally:
        await engine.dispose()


def check(run: Run, findings: Findings) -> None:
    problems = []
    if run.missing:
        problems.append(f"{run.missing:,} of {run.expected:,} deliveries never arrived")
    if run.duplicates:
        problems.append(f"{run.duplicates:,} duplicates")
    if run.bad_signatures:
        problems.append(f"{run.bad_signatures:,} signatures did not verify")
    state = run.database
    if state.get("deliveries succeeded", 0) != state.get("deliveries") or state.get("attempts") != state.get(
        "deliveries"
    ):
        problems.append(f"database: {state} (expected every delivery succeeded, one attempt each)")
    for problem in problems:
        findings.errors.append(f"{run.name}: {problem}")


# --- report --------------------------------------------------------------------------------------


def print_run(run: Run) -> None:
    offered = f" (offered {run.offered_rate:,.0f} events/s)" if run.offered_rate else ""
    print(
        f"  {run.rate:,.0f} deliveries/s{offered}: {run.distinct:,} of {run.expected:,} "
        f"in {run.seconds:.2f}s; latency p50 {run.percentile(50):.0f} ms, p95 {run.percentile(95):.0f}, "
        f"p99 {run.percentile(99):.0f}, "
        f"max {max(run.latencies_ms, default=0):.0f}; duplicates {run.duplicates}, missing {run.missing}, "
        f"bad signatures {run.bad_signatures}; database {run.database}",
        flush=True,
    )


def print_results(runs: list[Run], ceiling: Ceiling, options: Options) -> None:
    print("\n## Results\n")
    print(
        f"Ceilings: the receiver under wrk (64 connections) {ceiling.wrk_rps:,.0f} req/s; one Python "
        f"process posting signed bodies with aiohttp ({options.concurrency} in flight) "
        f"{ceiling.python_rps:,.0f} req/s.\n"
    )
    print(
        "| run | deliveries | s | **deliveries/s** | / Python client | / receiver | latency p50 ms | p95 "
        "| p99 | max | duplicates | missing | bad signatures |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        offered = f" ({r.offered_rate:,.0f} events/s offered)" if r.offered_rate else ""
        print(
            f"| {r.name}{offered} | {r.distinct:,} | {r.seconds:.2f} | {r.rate:,.0f} "
            f"| {r.rate / ceiling.python_rps:.2f} | {r.rate / ceiling.wrk_rps:.3f} | {r.percentile(50):.0f} "
            f"| {r.percentile(95):.0f} | {r.percentile(99):.0f} | {max(r.latencies_ms, default=0):.0f} "
            f"| {r.duplicates} | {r.missing} | {r.bad_signatures} |"
        )
    names = list(dict.fromkeys(name for r in runs for name in r.cpu))
    if names:
        print("\nCPU (cores, averaged from the first event until the last arrival):\n")
        print("| process | " + " | ".join(r.name[:2] for r in runs) + " |")
        print("|---|" + "---:|" * len(runs))
        for name in names:
            print(
                f"| {name} | "
                + " | ".join(f"{r.cpu[name]:.2f}" if name in r.cpu else "" for r in runs)
                + " |"
            )
    if runs:
        mean = [f"{r.name[:2]} {statistics.fmean(r.latencies_ms):.0f} ms" for r in runs if r.latencies_ms]
        print("\nmean latency: " + ", ".join(mean))


def print_header(options: Options) -> None:
    print("command: " + shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO_DIR, timeout=10,
        check=False,
    )  # fmt: skip
    print(f"commit: {commit.stdout.strip() or 'unknown'}")
    for name, value in machine_description().items():
        print(f"{name}: {value}")
    print(f"load average at start: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(
        f"1a {options.events:,} events; 1b {options.rate:,}/s for {options.paced_seconds:g}s; "
        f"1c {options.messages:,} messages; {options.workers} workers x --threads {options.worker_threads}; "
        f"2 {options.embedded_events:,} events",
        flush=True,
    )


def profile_path(options: Options, name: str) -> Path | None:
    return None if options.profile_dir is None else options.profile_dir / f"{name}.collapsed"


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")


if __name__ == "__main__":
    sys.exit(main())
