"""Load benchmark of sending messages (issue 3), beside a bare Starlette ceiling in the same run.

    .venv/bin/python bench/send.py                    # accept path on the embedded SQLite default
    .venv/bin/python bench/send.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
    .venv/bin/python bench/send.py --database-url ... --redis --skip-e2e

a. single send: wrk POSTs `{"channel":"sms","to":"+40740111222","body":"hi"}` to
   /api/v1/integrations/messages/send with the demo key (the sandbox integration 1; each request
   is a new message), right after the same body to the bare app's POST /echo.
b. batch accept: POST .../messages/send-batch with 500 distinct numbers, sequentially; the time
   from request to answer, median and p90.
c. end to end (needs --database-url): scaled-out mode on a fresh PostgreSQL database and a
   redis-server of its own; an integration (made in the database) sends SMS through Twilio's API
   to a stub (bench/provider_stub.py) and email over SMTP to an aiosmtpd sink in that stub; N
   messages go in batches of 500 to `weconn serve`, consumed by 1, then 2 `weconn worker`
   processes; messages/s from the first send until the stub has received all N.

a and b run against `weconn serve` on the database given (embedded SQLite by default), in
embedded mode, or with --redis as a scaled-out API whose queue nobody consumes. Every process,
temporary directory and database is removed at the end, also on errors and Ctrl-C. Exits 1 when
a request failed, a message was not received, or a target was missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contacts import fresh_database, post_lua, read_api_key, serve_baseline
from harness import (
    REPO_DIR,
    Server,
    WrkResult,
    exit_cleanly_on_sigterm,
    failure_banner,
    free_port,
    http_json,
    lua_script,
    machine_description,
    require_fast_uvicorn,
    require_wrk,
    results_table,
    run_wrk,
)
from pipeline_profile import summarize_pipeline
from services import (
    CpuMeter,
    Redis,
    Worker,
    py_spy_recording,
    redis_server,
    serve_provider_stub,
    serve_weconn,
    weconn_env,
    weconn_workers,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from gateway.tables import Integration, Message, Tenant
from gateway.tables.columns import table_of

SEND = "/api/v1/integrations/messages/send"
SEND_BATCH = "/api/v1/integrations/messages/send-batch"
SINGLE_BODY = {"channel": "sms", "to": "+40740111222", "body": "hi"}
BATCH_SIZE = 500
UNSETTLED = ("queued", "sending")
MESSAGES = table_of(Message)
TENANTS = table_of(Tenant)
TWILIO_ACCOUNT_SID = "AC" + "b3" * 16
TWILIO_AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105 - the stub's made-up account
BARE = "bare POST /echo"
SINGLE = "REST POST messages/send"

TARGET_SEND_RATIO = 0.25
TARGET_SEND_P99_MS = 25.0
TARGET_BATCH_MEDIAN_MS = 150.0
TARGET_E2E_TWO_WORKERS = 1000.0


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    threads: int
    warmup: int
    batches: int
    database_url: str | None
    redis: bool
    skip_accept: bool
    skip_e2e: bool
    e2e_messages: int
    e2e_workers: tuple[int, ...]
    worker_threads: int
    e2e_timeout: float
    profile_dir: Path | None
    py_spy: str | None


@dataclass(frozen=True)
class Api:
    """`weconn serve` and the demo tenant's full-access key."""

    server: Server
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@dataclass
class Findings:
    """What makes the run exit 1: errors (numbers not valid) and missed targets."""

    errors: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    missed: int = 0

    def judge(self, label: str, value: str, target: str, *, met: bool) -> None:
        self.verdicts.append(f"{label}: {value} (target {target}: {'met' if met else 'MISSED'})")
        self.missed += not met


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    wrk = require_wrk()
    require_fast_uvicorn()
    exit_cleanly_on_sigterm()
    print_header(options)
    findings = Findings()
    with tempfile.TemporaryDirectory(prefix="weconn-send-bench-") as tmp:
        workdir = Path(tmp)
        if not options.skip_accept:
            run_accept_stage(wrk, workdir / "accept", options, findings)
        if options.skip_e2e or options.database_url is None:
            print("\nend to end: skipped" + ("" if options.skip_e2e else " (it needs --database-url)"))
        else:
            run_e2e_stage(workdir, options, findings)
    return report(findings)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured wrk seconds before each run")
    parser.add_argument("--batches", type=int, default=20, help="timed 500-recipient batches (default 20)")
    parser.add_argument(
        "--database-url",
        help="postgresql+asyncpg://user@host:port/ADMIN_DB: fresh databases are made through it and "
        "dropped afterwards; needed by the end-to-end stage (default: embedded SQLite, no end to end)",
    )
    parser.add_argument("--redis", action="store_true", help="a and b against a scaled-out API (Redis)")
    parser.add_argument("--skip-accept", action="store_true", help="skip a and b")
    parser.add_argument("--skip-e2e", action="store_true", help="skip c")
    parser.add_argument("--e2e-messages", type=int, default=5000, help="messages per e2e run (default 5000)")
    parser.add_argument("--e2e-workers", default="1,2", help="worker counts of the SMS runs (default 1,2)")
    parser.add_argument("--worker-threads", type=int, default=16, help="weconn worker --threads (default 16)")
    parser.add_argument("--e2e-timeout", type=float, default=300, help="seconds an e2e run may take")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles into this directory")
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    args = parser.parse_args(argv)
    workers = tuple(int(count) for count in args.e2e_workers.split(","))
    if min(args.duration, args.connections, args.threads, args.batches, *workers) < 1 or args.warmup < 0:
        parser.error("counts and durations must be positive")
    if args.e2e_messages < 1 or args.e2e_messages % BATCH_SIZE:
        parser.error(f"--e2e-messages must be a positive multiple of {BATCH_SIZE}")
    py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy: pip install py-spy in a separate venv and pass --py-spy PATH")
    return Options(
        duration=args.duration,
        connections=args.connections,
        threads=args.threads,
        warmup=args.warmup,
        batches=args.batches,
        database_url=args.database_url,
        redis=args.redis,
        skip_accept=args.skip_accept,
        skip_e2e=args.skip_e2e,
        e2e_messages=args.e2e_messages,
        e2e_workers=workers,
        worker_threads=args.worker_threads,
        e2e_timeout=args.e2e_timeout,
        profile_dir=args.profile,
        py_spy=py_spy if args.profile else None,
    )


def phone(index: int) -> str:
    """Distinct valid Romanian mobile numbers: +40 740 0xx xxx."""
    return f"+407400{index:05d}"


def email(index: int) -> str:
    return f"bench-{index}@example.com"


# --- a and b: accepting sends ----------------------------------------------------------------------


def run_accept_stage(wrk: str, workdir: Path, options: Options, findings: Findings) -> None:
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        database_url, description = stack.enter_context(fresh_database(options.database_url))
        extra = {"WECONN_DATABASE_URL": database_url} if database_url else {}
        mode = "embedded (in-process queue; the sandbox sends in the same process)"
        if options.redis:
            extra["WECONN_REDIS_URL"] = stack.enter_context(redis_server(workdir)).url
            mode = "scaled out (Redis queue; no worker consumes it during a and b)"
        print(f"\n== a, b: {description}, {mode}", flush=True)
        bare = stack.enter_context(serve_baseline(workdir))
        weconn = stack.enter_context(serve_weconn(workdir, "weconn", weconn_env(workdir / "data", extra)))
        api = Api(weconn, read_api_key(weconn))
        store_url = database_url or f"sqlite+aiosqlite:///{workdir / 'data' / 'weconn.db'}"
        probe(api)
        single_send(wrk, bare, api, workdir=workdir, options=options, findings=findings)
        if not options.redis:
            drained = wait_drained(store_url, timeout=120)
            print(f"(the embedded workers sent the backlog of the wrk run in {drained:.1f}s)", flush=True)
        batch_accept(api, store_url, options, findings)


def probe(api: Api) -> None:
    """Each request of the benchmark once, before any load: stop early when one fails."""
    status, body = http_json("POST", api.server.url + SEND, SINGLE_BODY, api.headers)
    if status != 202:
        raise RuntimeError(f"probe send failed with {status}: {body}")
    status, body = http_json("POST", api.server.url + SEND_BATCH, batch_body(99_998, 2), api.headers)
    if status != 202 or body["data"]["accepted"] != 2:
        raise RuntimeError(f"probe batch failed with {status}: {body}")


def single_send(
    wrk: str, bare: Server, api: Api, *, workdir: Path, options: Options, findings: Findings
) -> None:
    lua = post_lua(api.key, json.dumps(SINGLE_BODY, separators=(",", ":")))
    base = wrk_load(wrk, BARE, bare.url + "/echo", lua, workdir=workdir, options=options)
    time.sleep(1)
    profile = profile_path(options, "a-single-send")
    sent = wrk_load(
        wrk,
        SINGLE,
        api.server.url + SEND,
        lua,
        workdir=workdir,
        options=options,
        pid=api.server.pid,
        profile=profile,
    )
    results = [base, sent]
    print("\n" + results_table(results))
    findings.errors.extend(_wrk_errors(results))
    ratio = sent.ok_rps / max(base.ok_rps, 1e-9)
    findings.judge(
        "a. single send / bare POST",
        f"{ratio:.3f}",
        f">= {TARGET_SEND_RATIO}",
        met=ratio >= TARGET_SEND_RATIO,
    )
    findings.judge(
        "a. single send p99",
        f"{sent.p99_ms:.1f} ms",
        f"< {TARGET_SEND_P99_MS:.0f} ms",
        met=sent.p99_ms < TARGET_SEND_P99_MS,
    )
    print_profile(profile, options.duration)


def wrk_load(
    wrk: str,
    name: str,
    url: str,
    lua: str,
    *,
    workdir: Path,
    options: Options,
    pid: int | None = None,
    profile: Path | None = None,
) -> WrkResult:
    script = workdir / f"{_slug(name)}.lua"
    script.write_text(lua_script(lua))
    load = {"connections": options.connections, "threads": options.threads}
    if options.warmup:
        run_wrk(wrk, name + " (warm-up)", url, script, duration=options.warmup, **load)
    print(f"running {name} for {options.duration}s ...", flush=True)
    meter = CpuMeter({} if pid is None else {"API (weconn serve)": pid})
    with py_spy_recording(options.py_spy, pid or 0, profile if pid else None):
        meter.start()
        result = run_wrk(wrk, name, url, script, duration=options.duration, **load)
        cpu = meter.stop()
    print(f"  {result.ok_rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms", flush=True)
    if pid is not None:
        print_cpu(cpu)
    return result


def print_cpu(cpu: dict[str, float]) -> None:
    print("  CPU (cores): " + "; ".join(f"{name} {cores:.2f}" for name, cores in cpu.items()), flush=True)


def _wrk_errors(results: list[WrkResult]) -> list[str]:
    banner = failure_banner(results)
    return [] if banner is None else [banner]


def batch_accept(api: Api, store_url: str, options: Options, findings: Findings) -> None:
    """Sequential batches of 500, each timed from request to answer (the first one unmeasured)."""
    send_one_batch(api, batch_body(options.batches * BATCH_SIZE, BATCH_SIZE))  # warm-up
    print(f"\nrunning {options.batches} batches of {BATCH_SIZE}, one after the other ...", flush=True)
    profile = profile_path(options, "b-batch-accept")
    timings: list[float] = []
    meter = CpuMeter({"API (weconn serve)": api.server.pid})
    started = time.monotonic()
    with py_spy_recording(options.py_spy, api.server.pid, profile):
        meter.start()
        for index in range(options.batches):
            seconds, error = send_one_batch(api, batch_body(index * BATCH_SIZE, BATCH_SIZE))
            timings.append(seconds * 1000)
            if error:
                findings.errors.append(f"b. batch {index}: {error}")
        cpu = meter.stop()
    elapsed = time.monotonic() - started
    print_batch_table(timings)
    print_cpu(cpu)
    median = statistics.median(timings)
    findings.judge(
        "b. 500-recipient batch, median",
        f"{median:.0f} ms",
        f"< {TARGET_BATCH_MEDIAN_MS:.0f} ms",
        met=median < TARGET_BATCH_MEDIAN_MS,
    )
    if not options.redis:
        print(f"(the embedded workers then sent them in {wait_drained(store_url, timeout=300):.1f}s)")
    print_profile(profile, elapsed)


def batch_body(
    first: int, size: int, channel: str = "sms", integration_id: int | None = None
) -> dict[str, Any]:
    address = email if channel == "email" else phone
    body: dict[str, Any] = {
        "channel": channel,
        "body": "<p>hi</p>" if channel == "email" else "hi",
        "recipients": [{"to": address(index)} for index in range(first, first + size)],
    }
    if channel == "email":
        body["subject"] = "Bench"
    if integration_id is not None:
        body["integration_id"] = integration_id
    return body


def send_one_batch(api: Api, body: dict[str, Any]) -> tuple[float, str | None]:
    """(seconds from request to answer, an error or None); a batch must be accepted whole."""
    started = time.perf_counter()
    status, answer = http_json("POST", api.server.url + SEND_BATCH, body, api.headers, timeout=120)
    seconds = time.perf_counter() - started
    expected = len(body["recipients"])
    if status != 202 or answer["data"]["accepted"] != expected:
        return seconds, f"HTTP {status}, accepted {_accepted(answer)} of {expected}"
    return seconds, None


def _accepted(answer: Any) -> object:
    return answer.get("data", {}).get("accepted") if isinstance(answer, dict) else None


def print_batch_table(timings: list[float]) -> None:
    deciles = statistics.quantiles(timings, n=10, method="inclusive")
    print("\n| batches | median ms | p90 ms | min ms | max ms |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {len(timings)} | {statistics.median(timings):.1f} | {deciles[8]:.1f} | {min(timings):.1f}"
        f" | {max(timings):.1f} |"
    )


def wait_drained(store_url: str, *, timeout: float) -> float:
    """Seconds until no message is left queued or sending (the embedded workers sent them)."""
    started = time.monotonic()
    while asyncio.run(count_statuses(store_url)).keys() & set(UNSETTLED):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"messages still unsent after {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


async def count_statuses(database_url: str, integration_id: int | None = None) -> dict[str, int]:
    engine = create_async_engine(database_url)
    query = select(MESSAGES.c.status, func.count()).group_by(MESSAGES.c.status)
    if integration_id is not None:
        query = query.where(MESSAGES.c.integration_id == integration_id)
    try:
        async with engine.connect() as connection:
            return {str(status): int(count) for status, count in await connection.execute(query)}
    finally:
        await engine.dispose()


# --- c: end to end -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    channel: str
    workers: int

    @property
    def name(self) -> str:
        return f"{self.channel}, {self.workers} worker{'s' if self.workers > 1 else ''}"


@dataclass(frozen=True)
class Drive:
    """What one end-to-end run measured."""

    accept_seconds: float  # from the first send to the answer to the last batch
    seconds: float  # from the first send to the last message received by the stub
    received: int
    distinct: int


@dataclass(frozen=True)
class E2eResult:
    phase: Phase
    messages: int
    drive: Drive
    statuses: dict[str, int]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.drive.distinct / self.drive.seconds if self.drive.seconds > 0 else 0.0


@dataclass(frozen=True)
class Pipeline:
    """The processes of one end-to-end run, and the integration that sends through the stub."""

    api: Api
    stub: Server
    redis: Redis
    workers: list[Worker]
    database_url: str
    integration_id: int

    def pids(self) -> dict[str, int]:
        return {
            "API (weconn serve)": self.api.server.pid,
            **{w.name: w.pid for w in self.workers},
            "provider stub": self.stub.pid,
            "redis-server": self.redis.process.pid,
        }


def run_e2e_stage(workdir: Path, options: Options, findings: Findings) -> None:
    phases = [Phase("sms", count) for count in options.e2e_workers]
    phases.append(Phase("email", max(options.e2e_workers)))
    results = []
    for index, phase in enumerate(phases):
        print(f"\n== c. end to end: {phase.name}, {options.e2e_messages:,} messages", flush=True)
        result = run_e2e_phase(phase, workdir / f"e2e-{index}", options, findings)
        results.append(result)
        print(f"  {result.rate:,.0f} msg/s; all received {result.drive.seconds:.2f}s after the first send")
    print_e2e_tables(results)
    for result in results:
        check_e2e(result, findings)
        if result.phase == Phase("sms", 2):
            target = f">= {TARGET_E2E_TWO_WORKERS:,.0f} msg/s"
            met = result.rate >= TARGET_E2E_TWO_WORKERS
            findings.judge("c. end to end, SMS, 2 workers", f"{result.rate:,.0f} msg/s", target, met=met)


def run_e2e_phase(phase: Phase, workdir: Path, options: Options, findings: Findings) -> E2eResult:
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        pipeline = start_pipeline(stack, phase, workdir, options)
        meter = CpuMeter(pipeline.pids())
        profiles = [profile_path(options, f"c-{_slug(phase.name)}-{_slug(w.name)}") for w in pipeline.workers]
        with ExitStack() as recording:
            for worker, profile in zip(pipeline.workers, profiles, strict=True):
                recording.enter_context(py_spy_recording(options.py_spy, worker.pid, profile))
            meter.start()
            drive = drive_e2e(phase, pipeline, options, findings)
            cpu = meter.stop()
        statuses = settle(pipeline.database_url, pipeline.integration_id)
    for profile in profiles:
        print_profile(profile, drive.seconds)
    return E2eResult(phase, options.e2e_messages, drive, statuses, cpu)


def start_pipeline(stack: ExitStack, phase: Phase, workdir: Path, options: Options) -> Pipeline:
    """A fresh database and Redis, the stub, `weconn serve`, the integration, then the workers."""
    database_url, _ = stack.enter_context(fresh_database(options.database_url))
    assert database_url is not None
    redis = stack.enter_context(redis_server(workdir))
    smtp_port = free_port() if phase.channel == "email" else None
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
    integration_id = asyncio.run(add_integration(database_url, stub_channels(smtp_port)))
    workers = stack.enter_context(
        weconn_workers(workdir, phase.workers, threads=options.worker_threads, env=env)
    )
    api = Api(server, read_api_key(server))
    return Pipeline(api, stub, redis, workers, database_url, integration_id)


def stub_channels(smtp_port: int | None) -> dict[str, Any]:
    sms = {
        "provider": "twilio",
        "account_sid": TWILIO_ACCOUNT_SID,
        "auth_token": TWILIO_AUTH_TOKEN,
        "sender": "+15005550006",
    }
    channels: dict[str, Any] = {"sms": sms}
    if smtp_port is not None:
        channels["email"] = {
            "provider": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "starttls": False,
            "sender": "bench@weconn.local",
            "timeout": 10,
        }
    return channels


async def add_integration(database_url: str, channels: dict[str, Any]) -> int:
    """The API has no endpoint for integrations: add one to the demo tenant, as the bootstrap does."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            tenant_id = (
                await session.execute(select(TENANTS.c.id).where(TENANTS.c.slug == "demo"))
            ).scalar_one()
            integration = Integration(tenant_id=tenant_id, name="Bench stubs", channels=channels)
            session.add(integration)
            await session.commit()
            assert integration.id is not None
            return integration.id
    finally:
        await engine.dispose()


def drive_e2e(phase: Phase, pipeline: Pipeline, options: Options, findings: Findings) -> Drive:
    """Sends every batch in turn, then waits for the stub to have received every message."""
    bodies = [
        batch_body(first, BATCH_SIZE, phase.channel, pipeline.integration_id)
        for first in range(0, options.e2e_messages, BATCH_SIZE)
    ]
    started = time.time()
    for index, body in enumerate(bodies):
        _, error = send_one_batch(pipeline.api, body)
        if error:
            findings.errors.append(f"c. {phase.name}, batch {index}: {error}")
    accepted = time.time() - started
    tally = wait_received(pipeline, phase.channel, options.e2e_messages, options.e2e_timeout)
    last = tally["last_at"] or time.time()
    return Drive(accepted, last - started, tally["received"], tally["distinct"])


def wait_received(pipeline: Pipeline, channel: str, expected: int, timeout: float) -> dict[str, Any]:
    """Polls the stub until it has `expected` messages, nothing arrives for 30 s, or time is up."""
    deadline = time.monotonic() + timeout
    last_progress, seen = time.monotonic(), -1
    while True:
        _, stats = http_json("GET", pipeline.stub.url + "/_stats")
        tally: dict[str, Any] = stats[channel]
        if tally["received"] != seen:
            last_progress, seen = time.monotonic(), tally["received"]
        dead = [w.name for w in pipeline.workers if w.process.poll() is not None]
        if tally["received"] >= expected or dead or time.monotonic() > min(deadline, last_progress + 30):
            return tally
        time.sleep(0.1)


def settle(database_url: str, integration_id: int, timeout: float = 30) -> dict[str, int]:
    """Message statuses once none is queued or sending any more (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = asyncio.run(count_statuses(database_url, integration_id))
        if not statuses.keys() & set(UNSETTLED) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


def check_e2e(result: E2eResult, findings: Findings) -> None:
    name, expected = result.phase.name, result.messages
    drive = result.drive
    if drive.distinct < expected:
        findings.errors.append(f"c. {name}: the stub received {drive.distinct:,} of {expected:,} messages")
    if drive.received > drive.distinct:
        findings.errors.append(f"c. {name}: {drive.received - drive.distinct} messages were sent twice")
    done = result.statuses.get("sent", 0) + result.statuses.get("delivered", 0)
    if done != expected:
        findings.errors.append(f"c. {name}: statuses in the database {result.statuses}, not {expected} sent")


def print_e2e_tables(results: list[E2eResult]) -> None:
    print("\n| run | messages | all accepted s | all received s | msg/s | received | distinct | statuses |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        statuses = ", ".join(f"{name} {count:,}" for name, count in sorted(r.statuses.items()))
        d = r.drive
        print(
            f"| {r.phase.name} | {r.messages:,} | {d.accept_seconds:.2f} | {d.seconds:.2f} | {r.rate:,.0f}"
            f" | {d.received:,} | {d.distinct:,} | {statuses} |"
        )
    names = list(dict.fromkeys(name for r in sorted(results, key=lambda r: -len(r.cpu)) for name in r.cpu))
    print("\nCPU used during each run (cores, averaged from the first send to the last message received):\n")
    print("| process | " + " | ".join(r.phase.name for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for name in names:
        cells = " | ".join(f"{r.cpu[name]:.2f}" if name in r.cpu else "" for r in results)
        print(f"| {name} | {cells} |")


# --- report --------------------------------------------------------------------------------------


def profile_path(options: Options, name: str) -> Path | None:
    return None if options.profile_dir is None else options.profile_dir / f"{name}.collapsed"


def print_profile(path: Path | None, seconds: float) -> None:
    if path is not None and path.exists():
        print("\n" + summarize_pipeline(path, duration=seconds), flush=True)


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")


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
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average at start: {load}")
    print(
        f"wrk: {options.connections} connections, {min(options.threads, options.connections)} threads, "
        f"{options.duration}s after {options.warmup}s warm-up; e2e: {options.e2e_messages:,} messages, "
        f"weconn worker --threads {options.worker_threads}",
        flush=True,
    )


def report(findings: Findings) -> int:
    print()
    for verdict in findings.verdicts:
        print(verdict)
    if findings.errors:
        rule = "!" * 78
        lines = [rule, "!!! THIS RUN HAD ERRORS: its numbers are NOT valid measurements", rule]
        lines += [f"!!! {error}" for error in findings.errors] + [rule]
        print("\n" + "\n".join(lines), file=sys.stderr)
    return 1 if findings.errors or findings.missed else 0


if __name__ == "__main__":
    sys.exit(main())
