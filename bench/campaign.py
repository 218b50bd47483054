"""Load benchmark of campaigns (issue 4): fan-out rate, end-to-end deliveries, cost of the status read.

    .venv/bin/python bench/campaign.py                     # 1a and 3 on embedded SQLite only
    .venv/bin/python bench/campaign.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
    .venv/bin/python bench/campaign.py --database-url ... --contacts 10000   # a quicker run

Every stage starts from a fresh database (a new SQLite data dir, or a new PostgreSQL database made
through --database-url and dropped afterwards) holding the demo tenant and N contacts (default
100,000, each with a distinct email and phone) written straight into the `contacts` table in bulk
(set-up, not measured), then drives the campaign REST API:

1. Fan-out rate: an email campaign to every contact is created, then sent; messages queued per
   second = N / (from the send request until the status endpoint's `stats.total` reaches N, polled
   every 50 ms). `total` grows in the same transaction that inserts a chunk's `queued` messages, so
   it counts messages committed as queued; each chunk's sends are handed to the broker right after.
   a. embedded (`weconn serve` on SQLite, the in-process queue): the fan-out actor runs on the
      embedded worker threads, and the same threads send the queued messages through the demo
      tenant's sandbox integration meanwhile; that is embedded mode, it cannot be switched off.
   b. scaled out (PostgreSQL + Redis + 2 worker processes): the workers are
      `weconn worker --queues campaigns`, so the fan-out runs with no delivery beside it; the
      queued sends stay in Redis. One fan-out is one actor call, so one of the two workers does
      all of it. (The end-to-end runs below also report the fan-out rate with two ordinary
      workers delivering meanwhile.)
2. End to end (needs --database-url): PostgreSQL + Redis + 2 `weconn worker --threads 16`; an
   integration made in the database sends SMS through Twilio's API to bench/provider_stub.py and
   email over SMTP to its aiosmtpd sink (as bench/send.py does); an SMS campaign, then (fresh
   everything) an email campaign to all N contacts; deliveries per second = N / (from the send
   request until the stub has received the Nth message, the stub's `time.time()` stamp).
3. Status cost: after each fan-out run, a second campaign of 10 contacts is sent; then (once the
   processes are idle) 200 sequential `GET .../campaigns/{id}/status` for each campaign, alternated
   on one keep-alive connection, then wrk for a few seconds on each; the ratio of the medians, large
   over small. Embedded, the large campaign is cancelled first, so that its delivery stops.

Every process, temporary directory and database is removed at the end, also on errors and Ctrl-C.
Exits 1 when a request failed, a count is off, or a target was missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contacts import fresh_database, read_api_key
from harness import (
    REPO_DIR,
    Server,
    WrkResult,
    exit_cleanly_on_sigterm,
    failure_banner,
    free_port,
    http_json,
    lua_script,
    lua_string,
    machine_description,
    require_fast_uvicorn,
    require_wrk,
    run_wrk,
)
from send import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    Api,
    Findings,
    add_integration,
    print_profile,
    report,
    stub_channels,
)
from services import (
    CpuMeter,
    Worker,
    py_spy_recording,
    redis_server,
    serve_provider_stub,
    serve_weconn,
    weconn_env,
    weconn_executable,
    weconn_workers,
)
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.tables import Contact, Message, Tenant
from gateway.tables.columns import table_of

CAMPAIGNS = "/api/v1/integrations/campaigns"
CONTACTS = table_of(Contact)
MESSAGES = table_of(Message)
TENANTS = table_of(Tenant)
SMALL_CAMPAIGN = 10
LOAD_CHUNK = 5000
POLL_SECONDS = 0.05
# An idle `weconn worker` polls each of its queues every 100 ms (worker_timeout): 0.09-0.12 core
# each on this machine, so "quiet" allows for that.
IDLE_WORKER_CORES = 0.2
TEMPLATES = {
    "email": {"message_template": "<p>Hi {{ name }}, this is the bench campaign.</p>", "subject": "Bench"},
    "sms": {"message_template": "Hi {{ name }}, this is the bench campaign."},
}

TARGET_FANOUT = 5000.0  # messages queued per second
TARGET_E2E = 1000.0  # deliveries per second, two workers
TARGET_STATUS_RATIO = 1.2  # status of the large campaign / of the small one, at most ("independent")


@dataclass(frozen=True)
class Options:
    contacts: int
    database_url: str | None
    skip_embedded: bool
    skip_scaled: bool
    skip_e2e: bool
    channels: tuple[str, ...]
    workers: int
    worker_threads: int
    status_requests: int
    status_seconds: int
    fanout_timeout: float
    e2e_timeout: float
    stall_seconds: float
    profile_dir: Path | None
    py_spy: str | None
    logs_dir: Path | None


@dataclass(frozen=True)
class FanOut:
    """One fan-out run."""

    name: str
    contacts: int
    answer_seconds: float  # the send request, from request to answer
    seconds: float  # from the send request until stats.total reached the audience
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.contacts / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class StatusCost:
    name: str
    small_ms: list[float]
    large_ms: list[float]
    small_wrk: WrkResult
    large_wrk: WrkResult

    @property
    def ratio(self) -> float:
        return statistics.median(self.large_ms) / statistics.median(self.small_ms)


@dataclass(frozen=True)
class EndToEnd:
    channel: str
    contacts: int
    fanout_seconds: float
    seconds: float  # from the send request until the stub had the last message (so far)
    received: int
    distinct: int
    cpu: dict[str, float]
    gave_up: str | None  # why the wait ended before the stub had every message
    stats: dict[str, int] = field(default_factory=dict)
    campaign_status: str = ""
    deadlocks: int = 0  # PostgreSQL's count for the run's database
    received_at_end: int = 0  # the stub's counts once the campaign settled
    distinct_at_end: int = 0
    worker_errors: int = 0  # tracebacks in the worker logs

    @property
    def rate(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Results:
    fanouts: list[FanOut] = field(default_factory=list)
    statuses: list[StatusCost] = field(default_factory=list)
    e2e: list[EndToEnd] = field(default_factory=list)


@dataclass
class Bench:
    """What every stage needs: wrk, the options, and where errors and results go."""

    wrk: str
    options: Options
    findings: Findings = field(default_factory=Findings)
    results: Results = field(default_factory=Results)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(arguments)
    wrk = require_wrk()
    require_fast_uvicorn()
    exit_cleanly_on_sigterm()
    print_header(options)
    bench = Bench(wrk, options)
    with tempfile.TemporaryDirectory(prefix="weconn-campaign-bench-") as tmp:
        workdir = Path(tmp)
        if not options.skip_embedded:
            run_fanout_stage(bench, "embedded SQLite", workdir / "embedded")
        if options.database_url is None:
            print("\nscaled out and end to end: skipped (they need --database-url)")
        else:
            if not options.skip_scaled:
                run_fanout_stage(bench, f"PostgreSQL + Redis, {options.workers} workers", workdir / "scaled")
            if not options.skip_e2e:
                for channel in options.channels:
                    bench.results.e2e.append(run_e2e(bench, channel, workdir / f"e2e-{channel}"))
    print_results(bench.results, options)
    judge(bench.results, bench.findings)
    return report(bench.findings)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000, help="audience size (default 100,000)")
    parser.add_argument(
        "--database-url",
        help="postgresql+asyncpg://user@host:port/ADMIN_DB: fresh databases are made through it and "
        "dropped afterwards; needed by the scaled-out fan-out and the end-to-end runs",
    )
    parser.add_argument("--skip-embedded", action="store_true", help="skip 1a (and its status cost)")
    parser.add_argument("--skip-scaled", action="store_true", help="skip 1b (and its status cost)")
    parser.add_argument("--skip-e2e", action="store_true", help="skip 2")
    parser.add_argument("--channels", default="sms,email", help="end-to-end channels (default sms,email)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--worker-threads", type=int, default=16, help="weconn worker --threads (default 16)")
    parser.add_argument("--status-requests", type=int, default=200, help="sequential status reads each")
    parser.add_argument("--status-seconds", type=int, default=5, help="wrk seconds per status run")
    parser.add_argument("--fanout-timeout", type=float, default=900, help="seconds a fan-out may take")
    parser.add_argument("--e2e-timeout", type=float, default=1800, help="seconds an end-to-end run may take")
    parser.add_argument("--stall-seconds", type=float, default=60, help="no progress this long ends a wait")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles into this directory")
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    parser.add_argument("--logs", type=Path, help="copy every process's log into this directory")
    args = parser.parse_args(argv)
    channels = tuple(channel.strip() for channel in args.channels.split(",") if channel.strip())
    if args.contacts < SMALL_CAMPAIGN or min(args.workers, args.worker_threads, args.status_requests) < 1:
        parser.error(f"--contacts must be at least {SMALL_CAMPAIGN}; counts must be positive")
    if not set(channels) <= {"sms", "email"}:
        parser.error("--channels: sms and/or email")
    py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy: pip install py-spy in a separate venv and pass --py-spy PATH")
    return Options(
        contacts=args.contacts,
        database_url=args.database_url,
        skip_embedded=args.skip_embedded,
        skip_scaled=args.skip_scaled,
        skip_e2e=args.skip_e2e,
        channels=channels,
        workers=args.workers,
        worker_threads=args.worker_threads,
        status_requests=args.status_requests,
        status_seconds=args.status_seconds,
        fanout_timeout=args.fanout_timeout,
        e2e_timeout=args.e2e_timeout,
        stall_seconds=args.stall_seconds,
        profile_dir=args.profile,
        py_spy=py_spy if args.profile else None,
        logs_dir=args.logs,
    )


# --- set-up ------------------------------------------------------------------------------------


def phone(index: int) -> str:
    return f"+4074{index:07d}"


async def load_contacts(database_url: str, count: int) -> list[int]:
    """N contacts of the demo tenant, in bulk INSERTs of LOAD_CHUNK rows in one transaction; returns
    the ids of the first SMALL_CAMPAIGN. PostgreSQL gets an ANALYZE, as autovacuum would soon do."""
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            tenant_id = (
                await connection.execute(select(TENANTS.c.id).where(TENANTS.c.slug == "demo"))
            ).scalar_one()
            for start in range(0, count, LOAD_CHUNK):
                rows = [
                    {"tenant_id": tenant_id, "name": f"Contact {index}", "email": f"c{index}@example.com",
                     "phone": phone(index), "tags": [], "metadata": {"n": index},
                     "created_at": now, "updated_at": now}
                    for index in range(start, min(start + LOAD_CHUNK, count))
                ]  # fmt: skip
                await connection.execute(insert(CONTACTS), rows)
            query = select(CONTACTS.c.id).order_by(CONTACTS.c.id).limit(SMALL_CAMPAIGN)
            first = list((await connection.execute(query)).scalars())
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execute(text("ANALYZE"))
                await connection.commit()
        return first
    finally:
        await engine.dispose()


async def count_messages(database_url: str, campaign_id: int) -> dict[str, int]:
    """A direct count of the campaign's messages by status."""
    engine = create_async_engine(database_url)
    query = (
        select(MESSAGES.c.status, func.count())
        .where(MESSAGES.c.campaign_id == campaign_id)
        .group_by(MESSAGES.c.status)
    )
    try:
        async with engine.connect() as connection:
            return {str(status): int(count) for status, count in await connection.execute(query)}
    finally:
        await engine.dispose()


def load(database_url: str, count: int) -> list[int]:
    print(f"loading {count:,} contacts straight into the database ...", flush=True)
    started = time.monotonic()
    first = asyncio.run(load_contacts(database_url, count))
    print(f"  loaded in {time.monotonic() - started:.1f}s", flush=True)
    return first


def create_campaign(api: Api, channel: str, integration_id: int, contact_ids: list[int] | None = None) -> int:
    body: dict[str, Any] = {
        "name": f"bench {channel} {'all' if contact_ids is None else len(contact_ids)}",
        "channel": channel,
        "integration_id": integration_id,
        **TEMPLATES[channel],
    }
    if contact_ids is not None:
        body["contact_ids"] = contact_ids
    status, answer = http_json("POST", api.server.url + CAMPAIGNS, body, api.headers, timeout=60)
    if status != 201:
        raise RuntimeError(f"create campaign failed with {status}: {answer}")
    return int(answer["data"]["id"])


def send_campaign(api: Api, campaign_id: int) -> float:
    """POST .../send with an empty object (send now); returns seconds from request to answer."""
    started = time.perf_counter()
    status, answer = http_json(
        "POST", f"{api.server.url}{CAMPAIGNS}/{campaign_id}/send", {}, api.headers, timeout=120
    )
    if status != 202 or answer["data"]["status"] != "sending":
        raise RuntimeError(f"send campaign {campaign_id} failed with {status}: {answer}")
    return time.perf_counter() - started


def campaign_status(api: Api, campaign_id: int) -> dict[str, Any]:
    status, answer = http_json(
        "GET", f"{api.server.url}{CAMPAIGNS}/{campaign_id}/status", headers=api.headers
    )
    if status != 200:
        raise RuntimeError(f"status of campaign {campaign_id} failed with {status}: {answer}")
    data: dict[str, Any] = answer["data"]
    return data


def wait_for(
    what: str,
    check: Callable[[], tuple[bool, object]],
    *,
    timeout: float,
    stall: float,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = POLL_SECONDS,
) -> None:
    """Polls `check` until done; raises when poll_until gives up."""
    reason = poll_until(check, timeout=timeout, stall=stall, alive=alive, interval=interval)
    if reason is not None:
        raise RuntimeError(f"{what}: {reason}")


def poll_until(
    check: Callable[[], tuple[bool, object]],
    *,
    timeout: float,
    stall: float,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = POLL_SECONDS,
) -> str | None:
    """Polls `check` (-> done, progress) until done (None), or why it gave up: `timeout` seconds
    passed, no progress for `stall` seconds, or `alive` named a dead process."""
    started = time.perf_counter()
    last_change, last_progress = started, None
    while True:
        done, progress = check()
        now = time.perf_counter()
        if done:
            return None
        if progress != last_progress:
            last_change, last_progress = now, progress
        dead = alive()
        if dead:
            return f"{dead} exited"
        if now - started > timeout or now - last_change > stall:
            quiet = now - last_change
            return f"not done after {now - started:.0f}s (no progress for {quiet:.0f}s: {progress})"
        time.sleep(interval)


def dead_worker(workers: list[Worker]) -> Callable[[], str | None]:
    return lambda: next((w.name for w in workers if w.process.poll() is not None), None)


def wait_quiet(pids: dict[str, int], *, threshold: float = 0.1, timeout: float = 120) -> float:
    """Waits until these processes together use less than `threshold` of a core over a second;
    returns the seconds waited, or raises naming the busy ones."""
    started = time.monotonic()
    while True:
        meter = CpuMeter(pids)
        meter.start()
        time.sleep(1)
        used = meter.stop()
        if sum(used[name] for name in pids) < threshold:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            busy = ", ".join(f"{name} {used[name]:.2f}" for name in pids)
            raise RuntimeError(f"the processes were still busy after {timeout:.0f}s (cores: {busy})")


# --- 1. fan-out and 3. status cost --------------------------------------------------------------


def run_fanout_stage(bench: Bench, name: str, workdir: Path) -> None:
    options = bench.options
    workdir.mkdir(parents=True)
    embedded = name.startswith("embedded")
    print(f"\n== 1. fan-out, {name}: {options.contacts:,} contacts", flush=True)
    with ExitStack() as stack:
        database_url, extra = None, {}
        if not embedded:
            database_url, _ = stack.enter_context(fresh_database(options.database_url))
            assert database_url is not None
            url = database_url
            # Runs once every process below has stopped (their backends flushed their statistics).
            stack.callback(lambda: print(f"(PostgreSQL deadlocks: {asyncio.run(deadlock_count(url))})"))
            extra = {"WECONN_DATABASE_URL": database_url}
        stack.callback(keep_logs, workdir, options.logs_dir)
        if not embedded:
            extra["WECONN_REDIS_URL"] = stack.enter_context(redis_server(workdir)).url
        env = weconn_env(workdir / "data", extra)
        server = stack.enter_context(serve_weconn(workdir, "weconn", env))
        api = Api(server, read_api_key(server))
        store_url = database_url or f"sqlite+aiosqlite:///{workdir / 'data' / 'weconn.db'}"
        first_ids = load(store_url, options.contacts)
        workers: list[Worker] = []
        if not embedded:
            launcher = [str(weconn_executable()), "worker", "--queues", "campaigns"]
            workers = stack.enter_context(
                weconn_workers(
                    workdir, options.workers, threads=options.worker_threads, env=env, command=launcher
                )
            )
        pids = {"API (weconn serve)": server.pid, **{w.name: w.pid for w in workers}}
        large = create_campaign(api, "email", 1)  # the demo tenant's sandbox integration
        quiet = 0.1 + IDLE_WORKER_CORES * len(workers)  # idle workers still poll their queues
        wait_quiet(pids, threshold=quiet)
        fan_out = measure_fanout(name, api, large, options, pids=pids, workers=workers)
        bench.results.fanouts.append(fan_out)
        print(
            f"  {fan_out.rate:,.0f} messages queued/s ({fan_out.seconds:.2f}s; send answered in "
            f"{fan_out.answer_seconds * 1000:.0f} ms)",
            flush=True,
        )
        check_fanout(name, store_url, large, options.contacts, embedded=embedded, findings=bench.findings)
        small = create_campaign(api, "email", 1, first_ids)
        send_campaign(api, small)
        wait_for(
            "the small campaign's fan-out",
            lambda: (campaign_status(api, small)["stats"]["total"] >= SMALL_CAMPAIGN, None),
            timeout=60,
            stall=60,
        )
        if embedded:
            stop_delivery(api, large, small, options)
        waited = wait_quiet(pids, threshold=quiet)
        print(f"(processes idle {waited:.0f}s later)", flush=True)
        bench.results.statuses.append(measure_status(bench, name, workdir, api, small=small, large=large))


def measure_fanout(
    name: str, api: Api, campaign_id: int, options: Options, *, pids: dict[str, int], workers: list[Worker]
) -> FanOut:
    meter = CpuMeter(pids)
    targets = [("api", api.server.pid)] if not workers else [(w.name, w.pid) for w in workers]
    profiles = [profile_path(options, f"fanout-{_slug(name)}-{_slug(t)}") for t, _ in targets]
    total = 0

    def progress() -> tuple[bool, object]:
        nonlocal total
        total = int(campaign_status(api, campaign_id)["stats"]["total"])
        return total >= options.contacts, total

    with ExitStack() as recording:
        for (_, pid), profile in zip(targets, profiles, strict=True):
            recording.enter_context(py_spy_recording(options.py_spy, pid, profile))
        meter.start()
        started = time.perf_counter()
        answer = send_campaign(api, campaign_id)
        wait_for(
            f"fan-out ({name})",
            progress,
            timeout=options.fanout_timeout,
            stall=options.stall_seconds,
            alive=dead_worker(workers),
        )
        seconds = time.perf_counter() - started
        cpu = meter.stop()
    print_cpu(cpu)
    for profile in profiles:
        print_profile(profile, seconds)
    return FanOut(name, options.contacts, answer, seconds, cpu)


def check_fanout(
    name: str, store_url: str, campaign_id: int, expected: int, *, embedded: bool, findings: Findings
) -> None:
    """The database holds exactly one message per contact; scaled out, all of them still queued."""
    counts = asyncio.run(count_messages(store_url, campaign_id))
    print(f"  messages in the database by status: {counts}", flush=True)
    if sum(counts.values()) != expected:
        findings.errors.append(
            f"1. {name}: {sum(counts.values()):,} messages in the database, not {expected:,}"
        )
    if not embedded and counts.get("queued", 0) != expected:
        findings.errors.append(f"1. {name}: messages were sent although no worker consumes sends: {counts}")


def stop_delivery(api: Api, large: int, small: int, options: Options) -> None:
    """Embedded: cancel the large campaign (its delivery would go on for minutes) and let the small
    one complete, so the status reads run on an idle process."""
    started = time.perf_counter()
    status, answer = http_json(
        "POST", f"{api.server.url}{CAMPAIGNS}/{large}/cancel", {}, api.headers, timeout=300
    )
    if status != 200:
        raise RuntimeError(f"cancel of campaign {large} failed with {status}: {answer}")
    print(f"(cancelled the large campaign in {time.perf_counter() - started:.1f}s)", flush=True)

    def settled(campaign_id: int) -> Callable[[], tuple[bool, object]]:
        def check() -> tuple[bool, object]:
            found = campaign_status(api, campaign_id)
            stats = found["stats"]
            return found["status"] in ("completed", "cancelled") and not stats["queued"] + stats[
                "sending"
            ], stats

        return check

    wait_for("the cancelled campaign", settled(large), timeout=300, stall=options.stall_seconds, interval=0.5)
    wait_for("the small campaign", settled(small), timeout=120, stall=options.stall_seconds, interval=0.5)
    print(f"  large: {campaign_status(api, large)['stats']}", flush=True)


def status_lua(api_key: str) -> str:
    return f"""
wrk.method = "GET"
wrk.headers["X-API-Key"] = {lua_string(api_key)}
"""


def measure_status(bench: Bench, name: str, workdir: Path, api: Api, *, small: int, large: int) -> StatusCost:
    """Sequential reads of the two campaigns alternated on one keep-alive connection, then wrk."""
    options, findings = bench.options, bench.findings
    print(
        f"\n== 3. status cost, {name}: campaign {small} ({SMALL_CAMPAIGN} contacts) and {large} "
        f"({options.contacts:,})",
        flush=True,
    )
    expected = {small: SMALL_CAMPAIGN, large: options.contacts}
    timings: dict[int, list[float]] = {small: [], large: []}
    connection = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=10)
    try:
        for index in range(options.status_requests + 20):  # the first 20 of each are a warm-up
            order = (small, large) if index % 2 else (large, small)
            for campaign_id in order:
                seconds, body = timed_get(connection, f"{CAMPAIGNS}/{campaign_id}/status", api.headers)
                if body["data"]["stats"]["total"] != expected[campaign_id]:
                    findings.errors.append(f"3. {name}: campaign {campaign_id} answered {body['data']}")
                    raise RuntimeError(f"unexpected status answer: {body}")
                if index >= 20:
                    timings[campaign_id].append(seconds * 1000)
    finally:
        connection.close()
    script = workdir / "status.lua"
    script.write_text(lua_script(status_lua(api.key)))
    runs = []
    for label, campaign_id in (("small", small), ("large", large)):
        url = f"{api.server.url}{CAMPAIGNS}/{campaign_id}/status"
        result = run_wrk(
            bench.wrk,
            f"{name}: status, {label}",
            url,
            script,
            duration=options.status_seconds,
            connections=4,
            threads=2,
        )
        runs.append(result)
        time.sleep(1)
    banner = failure_banner(runs)
    if banner:
        findings.errors.append(banner)
    cost = StatusCost(name, timings[small], timings[large], runs[0], runs[1])
    print(
        f"  median {statistics.median(cost.small_ms):.2f} ms (small) vs "
        f"{statistics.median(cost.large_ms):.2f} ms (large): ratio {cost.ratio:.3f}; wrk "
        f"{runs[0].ok_rps:,.0f} vs {runs[1].ok_rps:,.0f} req/s",
        flush=True,
    )
    return cost


def timed_get(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[float, Any]:
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {raw[:500]!r}")
    return seconds, json.loads(raw)


# --- 2. end to end -------------------------------------------------------------------------------


def run_e2e(bench: Bench, channel: str, workdir: Path) -> EndToEnd:
    options = bench.options
    workdir.mkdir(parents=True)
    print(
        f"\n== 2. end to end, {channel}: {options.contacts:,} contacts, {options.workers} workers", flush=True
    )
    deadlocks: list[int] = []
    with ExitStack() as stack:
        database_url, _ = stack.enter_context(fresh_database(options.database_url))
        assert database_url is not None
        # Runs once every process below has stopped (their backends flushed their statistics).
        stack.callback(lambda: deadlocks.append(asyncio.run(deadlock_count(database_url))))
        stack.callback(keep_logs, workdir, options.logs_dir)
        redis = stack.enter_context(redis_server(workdir))
        smtp_port = free_port() if channel == "email" else None
        stub = stack.enter_context(
            serve_provider_stub(
                workdir, account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN, smtp_port=smtp_port
            )
        )
        settings = {
            "WECONN_DATABASE_URL": database_url,
            "WECONN_REDIS_URL": redis.url,
            "WECONN_TWILIO_API_BASE_URL": stub.url,
        }
        env = weconn_env(workdir / "data", settings)
        server = stack.enter_context(serve_weconn(workdir, "weconn", env))
        api = Api(server, read_api_key(server))
        integration_id = asyncio.run(add_integration(database_url, stub_channels(smtp_port)))
        load(database_url, options.contacts)
        workers = stack.enter_context(
            weconn_workers(workdir, options.workers, threads=options.worker_threads, env=env)
        )
        campaign_id = create_campaign(api, channel, integration_id)
        pids = {
            "API (weconn serve)": server.pid,
            **{w.name: w.pid for w in workers},
            "provider stub": stub.pid,
            "redis-server": redis.process.pid,
        }
        wait_quiet(pids, threshold=0.1 + IDLE_WORKER_CORES * len(workers))
        result = drive_e2e(channel, api, stub, campaign_id, options, workers=workers, pids=pids)
        final = settle_campaign(api, campaign_id, options)
        counts = asyncio.run(count_messages(database_url, campaign_id))
        _, stats = http_json("GET", stub.url + "/_stats")  # duplicates may arrive after the last new one
        late = stats[channel]
        errors = sum(worker.log_text().count("Traceback") for worker in workers)
    result = replace(
        result,
        stats=final["stats"],
        campaign_status=final["status"],
        deadlocks=deadlocks[0],
        worker_errors=errors,
        received_at_end=late["received"],
        distinct_at_end=late["distinct"],
    )
    print(
        f"  {result.rate:,.0f} deliveries/s; {result.distinct:,} received {result.seconds:.1f}s after the "
        f"send request; campaign {final['status']}, stats {final['stats']}; messages by status {counts}; "
        f"PostgreSQL deadlocks {result.deadlocks}; tracebacks in the worker logs {errors}",
        flush=True,
    )
    check_e2e(result, counts, bench.findings)
    return result


def drive_e2e(
    channel: str,
    api: Api,
    stub: Server,
    campaign_id: int,
    options: Options,
    *,
    workers: list[Worker],
    pids: dict[str, int],
) -> EndToEnd:
    """Sends the campaign and waits until the stub has every message (or gives up, keeping the count)."""
    meter = CpuMeter(pids)
    profiles = [profile_path(options, f"e2e-{channel}-{_slug(w.name)}") for w in workers]
    fanout_seconds = 0.0
    tally: dict[str, Any] = {}

    def progress() -> tuple[bool, object]:
        nonlocal fanout_seconds, tally
        if not fanout_seconds:
            total = campaign_status(api, campaign_id)["stats"]["total"]
            if total >= options.contacts:
                fanout_seconds = time.time() - started
        _, stats = http_json("GET", stub.url + "/_stats")
        tally = stats[channel]
        return tally["distinct"] >= options.contacts, tally["received"]

    with ExitStack() as recording:
        for worker, profile in zip(workers, profiles, strict=True):
            recording.enter_context(py_spy_recording(options.py_spy, worker.pid, profile))
        meter.start()
        started = time.time()
        send_campaign(api, campaign_id)
        gave_up = poll_until(
            progress,
            timeout=options.e2e_timeout,
            stall=options.stall_seconds,
            alive=dead_worker(workers),
            interval=0.2,
        )
        cpu = meter.stop()
    seconds = (tally["last_at"] or time.time()) - started
    if fanout_seconds:
        rate = options.contacts / fanout_seconds
        print(
            f"  fan-out done {fanout_seconds:.1f}s after the send request "
            f"({rate:,.0f} queued/s while delivering)"
        )
    if gave_up:
        print(f"  !!! gave up waiting: {gave_up}", flush=True)
    print_cpu(cpu)
    for profile in profiles:
        print_profile(profile, seconds)
    return EndToEnd(
        channel=channel,
        contacts=options.contacts,
        fanout_seconds=fanout_seconds,
        seconds=seconds,
        received=tally["received"],
        distinct=tally["distinct"],
        cpu=cpu,
        gave_up=gave_up,
    )


async def deadlock_count(database_url: str) -> int:
    """Deadlocks PostgreSQL detected (and broke by aborting a transaction) in this database."""
    engine = create_async_engine(database_url)
    query = text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def keep_logs(workdir: Path, logs_dir: Path | None) -> None:
    """Copies the logs of a stage's processes to --logs DIR/<stage>/ (they go with the temp dir)."""
    if logs_dir is None:
        return
    target = logs_dir / workdir.name
    target.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copy2(log, target / log.name)


def settle_campaign(api: Api, campaign_id: int, options: Options) -> dict[str, Any]:
    """The campaign once it is completed (nothing queued or sending), or as it is after a minute."""
    found: dict[str, Any] = {}

    def check() -> tuple[bool, object]:
        nonlocal found
        found = campaign_status(api, campaign_id)
        return found["status"] != "sending", found["stats"]

    try:
        wait_for("the campaign's completion", check, timeout=60, stall=options.stall_seconds, interval=0.5)
    except RuntimeError as error:
        print(f"  {error}", flush=True)
    return found


def check_e2e(result: EndToEnd, counts: dict[str, int], findings: Findings) -> None:
    name, expected = f"2. end to end, {result.channel}", result.contacts
    if result.gave_up:
        findings.errors.append(f"{name}: gave up waiting for the stub: {result.gave_up}")
    if result.deadlocks or result.worker_errors:
        findings.errors.append(
            f"{name}: PostgreSQL detected {result.deadlocks} deadlocks; {result.worker_errors} tracebacks in "
            "the worker logs"
        )
    if result.distinct_at_end < expected:
        findings.errors.append(
            f"{name}: the stub received {result.distinct_at_end:,} of {expected:,} messages"
        )
    if result.received_at_end > result.distinct_at_end:
        twice = result.received_at_end - result.distinct_at_end
        findings.errors.append(f"{name}: {twice:,} deliveries were of messages already delivered")
    if result.campaign_status != "completed":
        findings.errors.append(f"{name}: the campaign is {result.campaign_status}, not completed")
    if result.stats.get("sent", 0) != expected or counts.get("sent", 0) != expected:
        findings.errors.append(f"{name}: stats {result.stats}, messages {counts}; not {expected:,} sent")


# --- report --------------------------------------------------------------------------------------


def print_cpu(cpu: dict[str, float]) -> None:
    print("  CPU (cores): " + "; ".join(f"{name} {cores:.2f}" for name, cores in cpu.items()), flush=True)


def print_results(results: Results, options: Options) -> None:
    print(f"\n## Results ({options.contacts:,} contacts)")
    if results.fanouts or results.e2e:
        print("\n1. fan-out (messages queued per second, from the send request until stats.total = N):\n")
        print("| run | contacts | send answered ms | fan-out s | **messages queued/s** |")
        print("|---|---:|---:|---:|---:|")
        for f in results.fanouts:
            print(
                f"| {f.name} | {f.contacts:,} | {f.answer_seconds * 1000:.0f} | {f.seconds:.2f} "
                f"| {f.rate:,.0f} |"
            )
        for e in results.e2e:
            rate = e.contacts / e.fanout_seconds if e.fanout_seconds else 0.0
            print(
                f"| while delivering: {e.channel}, {options.workers} `weconn worker` | {e.contacts:,} | "
                f"| {e.fanout_seconds:.2f} | {rate:,.0f} |"
            )
    if results.e2e:
        print("\n2. end to end (deliveries per second, from the send request until the stub has all N):\n")
        print(
            "| run | contacts | last new message s | **deliveries/s** | received (at the end) "
            "| distinct (at the end) | deadlocks | campaign | stats |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for e in results.e2e:
            stats = ", ".join(f"{k} {v:,}" for k, v in e.stats.items() if v)
            print(
                f"| {e.channel}, {options.workers} workers | {e.contacts:,} | {e.seconds:.1f} "
                f"| {e.rate:,.0f} | {e.received_at_end:,} | {e.distinct_at_end:,} | {e.deadlocks} "
                f"| {e.campaign_status} "
                f"| {stats} |"
            )
    if results.statuses:
        print("\n3. status endpoint (sequential, one keep-alive connection; wrk: 4 connections):\n")
        print("| run | campaign | median ms | p90 ms | wrk req/s | wrk p50 ms | wrk p99 ms |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for s in results.statuses:
            for label, timings, run in (
                (f"{SMALL_CAMPAIGN} contacts", s.small_ms, s.small_wrk),
                (f"{options.contacts:,} contacts", s.large_ms, s.large_wrk),
            ):
                p90 = statistics.quantiles(timings, n=10, method="inclusive")[8]
                print(
                    f"| {s.name} | {label} | {statistics.median(timings):.2f} | {p90:.2f} "
                    f"| {run.ok_rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} |"
                )
    print_cpu_table(results)


def print_cpu_table(results: Results) -> None:
    runs = [(f"fan-out, {f.name}", f.cpu) for f in results.fanouts]
    runs += [(f"end to end, {e.channel}", e.cpu) for e in results.e2e]
    if not runs:
        return
    names = list(dict.fromkeys(name for _, cpu in runs for name in cpu))
    print("\nCPU (cores, averaged over each measured run):\n")
    print("| process | " + " | ".join(label for label, _ in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for name in names:
        print(
            f"| {name} | " + " | ".join(f"{cpu[name]:.2f}" if name in cpu else "" for _, cpu in runs) + " |"
        )


def judge(results: Results, findings: Findings) -> None:
    for f in results.fanouts:
        findings.judge(
            f"1. fan-out, {f.name}",
            f"{f.rate:,.0f} messages queued/s",
            f">= {TARGET_FANOUT:,.0f}",
            met=f.rate >= TARGET_FANOUT,
        )
    for e in results.e2e:
        findings.judge(
            f"2. end to end, {e.channel}",
            f"{e.rate:,.0f} deliveries/s",
            f">= {TARGET_E2E:,.0f}",
            met=e.rate >= TARGET_E2E,
        )
    for s in results.statuses:
        findings.judge(
            f"3. status cost, {s.name}: median large / small",
            f"{s.ratio:.3f}",
            f"<= {TARGET_STATUS_RATIO}",
            met=s.ratio <= TARGET_STATUS_RATIO,
        )


def print_header(options: Options) -> None:
    print("command: " + shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        timeout=10,
        check=False,
    )
    print(f"commit: {commit.stdout.strip() or 'unknown'}")
    for name, value in machine_description().items():
        print(f"{name}: {value}")
    print(f"load average at start: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(
        f"contacts: {options.contacts:,}; workers: {options.workers} x --threads {options.worker_threads}; "
        f"status: {options.status_requests} sequential reads each, wrk {options.status_seconds}s",
        flush=True,
    )


def profile_path(options: Options, name: str) -> Path | None:
    return None if options.profile_dir is None else options.profile_dir / f"{name}.collapsed"


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")


if __name__ == "__main__":
    sys.exit(main())
