"""Benchmark of GraphQL subscriptions (issue 5): event latency under load, memory per subscription.

    .venv/bin/python bench/subscriptions.py                  # latency embedded on SQLite, then memory
    .venv/bin/python bench/subscriptions.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
                                                             # also latency scaled out (PostgreSQL,
                                                             # Redis, 2 `weconn worker` processes)

1. Latency under flow, once per mode: `weconn serve` embedded on a fresh SQLite data dir; and
   scaled out (with --database-url): a fresh PostgreSQL database, a redis-server of its own,
   `weconn serve` and 2 `weconn worker` processes. One subscriber (a child process, so that the
   load generator does not delay its clock readings) runs
   `subscription { deliveryEvents { cursor messageId status occurredAt } }` over
   `graphql-transport-ws` on /graphql and stamps every `next` message with `time.time()` on
   arrival. A paced load generator POSTs send-batch (500 sms recipients each, body "bench", the demo
   key) at --rate messages/s (default 1,000) for --duration seconds (default 20); each batch starts
   at its due time, or as soon as a sender thread is free when the service answers more slowly.
   Latency per event = arrival time - `occurredAt` (the same machine clock). `occurredAt` is taken by
   the process making the change once its transaction holds the writer (the change happens there),
   so the latency includes the rest of the transaction and its commit (for `queued`: the batch's
   500-row insert, the commit and the publish of 500 events). Scaled out, a tap subscribed to the
   Redis channels splits each latency at the publish.
   Every accepted message must produce exactly one event of each of queued, sending, sent,
   delivered: a missing, repeated or out-of-order event is an error (and the database is asked
   what became of the messages whose events are missing).
2. Memory (embedded on SQLite): the gateway's VmRSS and Pss with no subscription after a warm-up,
   then with --subscriptions (default 1,000) idle websocket connections holding one
   `deliveryEvents` subscription each (a child process opens them; each is proven live by
   receiving the events of one probe message before the measurement), then after they close;
   --cycles times (default 3), to see whether memory keeps growing.

Every process runs in its own process group and is stopped, every temporary directory and database
removed, in `finally` blocks (also on Ctrl-C and SIGTERM); every wait has a timeout. Exits 1 when
an event is missing or wrong, a request failed, or a target was missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import json
import math
import os
import queue
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import redis
from contacts import fresh_database, read_api_key
from harness import (
    REPO_DIR,
    Server,
    exit_cleanly_on_sigterm,
    http_json,
    machine_description,
    require_fast_uvicorn,
    stop_process,
)
from pipeline_profile import summarize_pipeline
from services import CpuMeter, py_spy_recording, redis_server, serve_weconn, weconn_env, weconn_workers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.bus_wire import CHANNEL_PREFIX

QUERY = "subscription { deliveryEvents { cursor messageId status occurredAt } }"
PROTOCOL = Subprotocol("graphql-transport-ws")
SEND = "/api/v1/integrations/messages/send"
SEND_BATCH = "/api/v1/integrations/messages/send-batch"
BATCH_SIZE = 500
STATUSES = ("queued", "sending", "sent", "delivered")
WORKER_STATUSES = STATUSES[1:]  # `queued` is the gateway's change (the accepted request), not a worker's
LATENCY_SUBSCRIBER = "_latency-subscriber"
IDLE_SUBSCRIBERS = "_idle-subscribers"
REDIS_TAP = "_redis-tap"

TARGET_RATE = 1000.0  # messages/s flowing while the latency is measured
TARGET_P99_MS = 50.0
TARGET_MEMORY_MB = 150.0  # for 1,000 idle subscriptions

CHILD_START_TIMEOUT = 30.0
OPEN_TIMEOUT = 120.0  # opening every idle subscription
PROBE_TIMEOUT = 60.0  # the events of one probe message reaching every subscriber
CLOSE_TIMEOUT = 60.0


# --- the subscriber child processes ---------------------------------------------------------------


def raise_open_files_limit(needed: int) -> tuple[int, int]:
    """Raises this process's soft limit of open files towards `needed` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def open_subscription(url: str, key: str, *, deflate: bool = True) -> ClientConnection:
    """A websocket with `connection_init` acknowledged and the `deliveryEvents` subscription sent;
    permessage-deflate offered (as browsers do) unless `deflate` is False."""
    socket = await connect(
        url,
        subprotocols=[PROTOCOL],
        compression="deflate" if deflate else None,
        ping_interval=None,
        max_size=None,
        open_timeout=30,
        close_timeout=5,
    )
    try:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), 30))
    except BaseException:
        await socket.close()
        raise
    if reply.get("type") != "connection_ack":
        await socket.close()
        raise ConnectionError(f"no connection_ack: {reply}")
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
    return socket


async def latency_subscriber(url: str, key: str, output: Path) -> int:
    """Writes `<arrival time>\\t<raw message>` for every message until SIGTERM (flushed every 0.1 s)."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    socket = await open_subscription(url, key)
    with output.open("w") as out:
        print("SUBSCRIBED", flush=True)

        async def read() -> None:
            while True:
                raw = await socket.recv(decode=True)
                arrived = time.time()
                out.write(f"{arrived:.6f}\t{raw}\n")
                if '"ping"' in raw[:40]:  # the protocol's own keep-alive, if the server sends one
                    await socket.send(json.dumps({"type": "pong"}))

        async def flush() -> None:
            while True:
                await asyncio.sleep(0.1)
                out.flush()

        reader = asyncio.create_task(read())
        flusher = asyncio.create_task(flush())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, flusher, stopping):
            task.cancel()
        failure = reader.exception() if reader.done() and not reader.cancelled() else None
        out.flush()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(socket.close(), 5)
    if failure is not None:
        print(f"ERROR the subscription ended: {failure!r}", flush=True)
        return 1
    return 0


@dataclass
class IdleSubscription:
    socket: ClientConnection
    reader: asyncio.Task[None] | None = None
    seen: Counter[int] = field(default_factory=Counter)  # events per message id
    failure: str | None = None


async def idle_subscribers(url: str, key: str, count: int, concurrency: int, *, deflate: bool) -> int:
    """Opens `count` subscriptions, then follows commands on stdin:
    `WAIT <message id>` until each saw the message's 4 events, `CLOSE` to close them all."""
    limits = raise_open_files_limit(count + 256)
    print(f"LIMIT {limits[0]} {limits[1]}", flush=True)
    gate = asyncio.Semaphore(concurrency)
    subscriptions: list[IdleSubscription] = []

    async def open_one() -> None:
        async with gate:
            subscription = IdleSubscription(await open_subscription(url, key, deflate=deflate))
        subscription.reader = asyncio.create_task(_count_events(subscription))
        subscriptions.append(subscription)

    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), OPEN_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which stops the run
        print(f"ERROR opened {len(subscriptions)} of {count}: {error!r}", flush=True)
        await _close_all(subscriptions)
        return 1
    print(f"OPENED {len(subscriptions)} {time.monotonic() - started:.3f}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "CLOSE":
            started = time.monotonic()
            await _close_all(subscriptions)
            print(f"CLOSED {len(subscriptions)} {time.monotonic() - started:.3f}", flush=True)
            return 0
        message_id = int(line.split()[1])
        deadline = time.monotonic() + PROBE_TIMEOUT
        complete = 0
        while time.monotonic() < deadline:
            complete = sum(s.seen[message_id] >= len(STATUSES) for s in subscriptions)
            if complete == len(subscriptions):
                break
            await asyncio.sleep(0.05)
        failures = [s.failure for s in subscriptions if s.failure]
        extra = sum(s.seen[message_id] > len(STATUSES) for s in subscriptions)
        first = failures[0].replace(" ", "_")[:200] if failures else "-"
        print(f"RECEIVED {complete} {extra} {len(failures)} {first}", flush=True)


async def _count_events(subscription: IdleSubscription) -> None:
    try:
        while True:
            message = json.loads(await subscription.socket.recv())
            if message.get("type") == "next":
                event = message["payload"]["data"]["deliveryEvents"]
                subscription.seen[int(event["messageId"])] += 1
            elif message.get("type") == "ping":
                await subscription.socket.send(json.dumps({"type": "pong"}))
            else:
                subscription.failure = f"unexpected message: {message}"
                return
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - a closed socket is what ends an idle subscription
        subscription.failure = repr(error)


async def _close_all(subscriptions: list[IdleSubscription]) -> None:
    async def close(subscription: IdleSubscription) -> None:
        if subscription.reader is not None:
            subscription.reader.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(subscription.socket.close(), 10)

    await asyncio.wait_for(asyncio.gather(*(close(s) for s in subscriptions)), CLOSE_TIMEOUT)


def redis_tap(url: str, output: Path) -> int:
    """Scaled out: stamps every event published on Redis (`<arrival time>\t<payload>`) until SIGTERM,
    the moment between a worker's commit and the gateway's relay."""
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
    confirmed = pubsub.get_message(timeout=10)
    if confirmed is None or confirmed["type"] != "psubscribe":
        print(f"ERROR no psubscribe confirmation: {confirmed}", flush=True)
        return 1
    print("SUBSCRIBED", flush=True)
    flushed = time.monotonic()
    with output.open("w") as out:
        while not stopping:
            message = pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "pmessage":
                out.write(f"{time.time():.6f}\t{message['data'].decode()}\n")
            if time.monotonic() - flushed > 0.1:
                out.flush()
                flushed = time.monotonic()
    pubsub.close()
    client.close()
    return 0


def child_main(argv: list[str]) -> int:
    role, url, key, *rest = argv
    if role == REDIS_TAP:
        return redis_tap(url, Path(key))
    if role == LATENCY_SUBSCRIBER:
        return asyncio.run(latency_subscriber(url, key, Path(rest[0])))
    return asyncio.run(idle_subscribers(url, key, int(rest[0]), int(rest[1]), deflate=rest[2] == "deflate"))


class Child:
    """A child process of this script, read line by line (its stdout) with timeouts."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=REPO_DIR,
            start_new_session=True,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> list[str]:
        """The words after `prefix` on the next line that starts with it; raises on ERROR or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise RuntimeError(f"{self.name}: no {prefix} within {timeout:.0f}s") from None
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.process.wait()}): {self.stderr_text()}")
            if line.startswith("ERROR"):
                raise RuntimeError(f"{self.name}: {line}")
            if line.startswith(prefix):
                return line.split()[1:]

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stderr_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)  # type: ignore[arg-type]
        self.log.close()


@contextmanager
def child(name: str, argv: list[str], log_path: Path) -> Iterator[Child]:
    process = Child(name, argv, log_path)
    try:
        yield process
    finally:
        process.stop()


# --- options and the services ---------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    database_url: str | None
    rate: float
    duration: float
    concurrency: int
    drain_timeout: float
    subscriptions: int
    cycles: int
    open_concurrency: int
    deflate: bool
    worker_threads: int
    skip_latency: bool
    skip_memory: bool
    skip_embedded: bool
    profile_dir: Path | None
    py_spy: str | None


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="postgresql+asyncpg://user@host:port/ADMIN_DB: adds the scaled-out latency run on a fresh "
        "database made (and dropped) through it",
    )
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="messages/s offered (default 1000)")
    parser.add_argument("--duration", type=float, default=20, help="seconds of offered load (default 20)")
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight at most (default 2)")
    parser.add_argument(
        "--drain-timeout", type=float, default=600, help="seconds to wait for every event (default 600)"
    )
    parser.add_argument("--subscriptions", type=int, default=1000, help="idle subscriptions (default 1000)")
    parser.add_argument("--cycles", type=int, default=3, help="open/close cycles of the memory run")
    parser.add_argument("--open-concurrency", type=int, default=50, help="handshakes in flight at once")
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="memory: the idle clients do not offer permessage-deflate (browsers do; the default offers it)",
    )
    parser.add_argument("--worker-threads", type=int, default=16, help="weconn worker --threads (default 16)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true", help="latency: only the scaled-out run")
    parser.add_argument("--profile", type=Path, help="py-spy recordings of the services into this directory")
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    args = parser.parse_args(argv)
    if min(args.rate, args.duration, args.concurrency, args.subscriptions, args.cycles) <= 0:
        parser.error("rates, durations and counts must be positive")
    py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy: pip install py-spy in a separate venv and pass --py-spy PATH")
    return Options(
        database_url=args.database_url,
        rate=args.rate,
        duration=args.duration,
        concurrency=args.concurrency,
        drain_timeout=args.drain_timeout,
        subscriptions=args.subscriptions,
        cycles=args.cycles,
        open_concurrency=args.open_concurrency,
        deflate=not args.no_deflate,
        worker_threads=args.worker_threads,
        skip_latency=args.skip_latency,
        skip_memory=args.skip_memory,
        skip_embedded=args.skip_embedded,
        profile_dir=args.profile,
        py_spy=py_spy if args.profile else None,
    )


@dataclass
class Findings:
    """What makes the run exit 1: errors (numbers not valid) and missed targets."""

    errors: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    missed: int = 0

    def judge(self, label: str, value: str, target: str, *, met: bool, ratio: str = "") -> None:
        ratio = f"; {ratio}" if ratio else ""
        self.verdicts.append(f"{label}: {value} (target {target}{ratio}: {'met' if met else 'MISSED'})")
        self.missed += not met


@dataclass(frozen=True)
class Gateway:
    server: Server
    key: str
    pids: dict[str, int]  # the processes whose CPU is measured (gateway, workers, redis)
    database_url: str
    workers: tuple[int, ...] = ()
    redis_url: str | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/graphql"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@contextmanager
def start_gateway(workdir: Path, *, scaled_out: bool, options: Options) -> Iterator[tuple[Gateway, str]]:
    """(the gateway, a description); scaled out: fresh PostgreSQL + Redis + 2 workers."""
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        if not scaled_out:
            env = weconn_env(workdir / "data", {})
            server = stack.enter_context(serve_weconn(workdir, "weconn", env))
            pids = {"weconn serve (embedded)": server.pid}
            store = f"sqlite+aiosqlite:///{workdir / 'data' / 'weconn.db'}"
            yield Gateway(server, read_api_key(server), pids, store), "embedded `weconn serve` on SQLite"
            return
        database_url, description = stack.enter_context(fresh_database(options.database_url))
        assert database_url is not None
        broker = stack.enter_context(redis_server(workdir))
        env = weconn_env(
            workdir / "data", {"WECONN_DATABASE_URL": database_url, "WECONN_REDIS_URL": broker.url}
        )
        server = stack.enter_context(serve_weconn(workdir, "weconn", env))
        workers = stack.enter_context(weconn_workers(workdir, 2, threads=options.worker_threads, env=env))
        pids = {
            "weconn serve": server.pid,
            **{w.name: w.pid for w in workers},
            "redis-server": broker.process.pid,
        }
        text = f"scaled out: {description}, redis-server, `weconn serve`, 2 x `weconn worker --threads "
        text += f"{options.worker_threads}`"
        worker_pids = tuple(w.pid for w in workers)
        yield Gateway(server, read_api_key(server), pids, database_url, worker_pids, broker.url), text


def phone(index: int) -> str:
    """Distinct valid Romanian mobile numbers: +40 741 xxx xxx."""
    return f"+40741{index:06d}"


def batch_body(first: int, size: int = BATCH_SIZE) -> bytes:
    recipients = [{"to": phone(index)} for index in range(first, first + size)]
    return json.dumps({"channel": "sms", "body": "bench", "recipients": recipients}).encode()


def send_probe(gateway: Gateway, index: int) -> int:
    """One message (the demo integration's sandbox); its id."""
    body = {"channel": "sms", "to": phone(index), "body": "bench"}
    status, answer = http_json("POST", gateway.server.url + SEND, body, gateway.headers, timeout=30)
    if status != 202:
        raise RuntimeError(f"probe send failed with {status}: {answer}")
    return int(answer["data"]["id"])


# --- 1. latency under flow ------------------------------------------------------------------------


@dataclass
class Received:
    """One event as the subscriber got it."""

    arrived: float
    occurred: float
    cursor: int
    message_id: int
    status: str

    @property
    def latency_ms(self) -> float:
        return (self.arrived - self.occurred) * 1000


class EventLog:
    """Reads the latency subscriber's output file as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.events: list[Received] = []
        self.by_key: Counter[tuple[int, str]] = Counter()
        self.problems: list[str] = []

    def read(self) -> list[Received]:
        """The events that arrived since the last call (also kept in `events`)."""
        first = len(self.events)
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode().splitlines():
            stamp, _, raw = line.partition("\t")
            message = json.loads(raw)
            if message.get("type") != "next" or message["payload"].get("errors"):
                if message.get("type") != "ping":
                    self.problems.append(raw[:300])
                continue
            event = message["payload"]["data"]["deliveryEvents"]
            received = Received(
                arrived=float(stamp),
                occurred=datetime.fromisoformat(event["occurredAt"]).timestamp(),
                cursor=int(event["cursor"]),
                message_id=int(event["messageId"]),
                status=str(event["status"]),
            )
            self.events.append(received)
            self.by_key[(received.message_id, received.status)] += 1
        return self.events[first:]

    def complete(self, message_ids: Sequence[int]) -> int:
        """How many of `message_ids` have all four events."""
        return sum(all(self.by_key[(m, s)] for s in STATUSES) for m in message_ids)

    def wait_for(self, message_ids: Sequence[int], timeout: float, *, stall: float = 60) -> bool:
        """Until every status of every message arrived (True), or time or progress ran out."""
        deadline = time.monotonic() + timeout
        self.read()
        missing = {(m, s) for m in message_ids for s in STATUSES if not self.by_key[(m, s)]}
        progress_at = time.monotonic()
        while missing:
            if time.monotonic() > min(deadline, progress_at + stall):
                return False
            time.sleep(0.2)
            fresh = self.read()
            if fresh:
                progress_at = time.monotonic()
                missing.difference_update((e.message_id, e.status) for e in fresh)
        return True


@dataclass
class Batch:
    index: int
    due: float
    started: float = 0.0
    answered: float = 0.0
    message_ids: list[int] = field(default_factory=list)
    error: str | None = None


def offer_load(gateway: Gateway, options: Options, first_index: int) -> tuple[list[Batch], float]:
    """Paced send-batches, at most `concurrency` in flight; (the batches, the start time)."""
    count = max(1, round(options.duration * options.rate / BATCH_SIZE))
    interval = BATCH_SIZE / options.rate
    bodies = [batch_body(first_index + i * BATCH_SIZE) for i in range(count)]
    start = time.time() + 0.2
    batches = [Batch(i, start + i * interval) for i in range(count)]
    pending = iter(batches)
    lock = threading.Lock()

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=120)
        headers = {"X-API-Key": gateway.key, "Content-Type": "application/json"}
        try:
            while True:
                with lock:
                    batch = next(pending, None)
                if batch is None:
                    return
                time.sleep(max(batch.due - time.time(), 0))
                batch.started = time.time()
                try:
                    connection.request("POST", SEND_BATCH, bodies[batch.index], headers)
                    response = connection.getresponse()
                    answer = json.loads(response.read())
                    batch.answered = time.time()
                    data = answer.get("data", {}) if isinstance(answer, dict) else {}
                    batch.message_ids = [int(r["id"]) for r in data.get("results", []) if r.get("id")]
                    if response.status != 202 or len(batch.message_ids) != BATCH_SIZE:
                        batch.error = f"HTTP {response.status}, accepted {len(batch.message_ids)}"
                except (OSError, http.client.HTTPException, ValueError) as error:
                    batch.answered = time.time()
                    batch.error = repr(error)
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=120)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(options.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=options.duration + 300)
        if thread.is_alive():
            raise RuntimeError("a load sender did not finish in time")
    return batches, start


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of values sorted ascending."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values), max(1, math.ceil(share * len(sorted_values)))) - 1]


@dataclass
class LatencyRun:
    mode: str
    description: str
    batches: list[Batch]
    load_start: float
    expected_ids: list[int]
    events: list[Received]
    problems: list[str]
    cpu: dict[str, float]
    cpu_seconds: float
    fds_limit: str
    on_redis: dict[int, float] = field(default_factory=dict)  # cursor -> when Redis relayed it (scaled out)

    @property
    def accepted(self) -> int:
        return sum(len(b.message_ids) for b in self.batches)

    @property
    def accept_seconds(self) -> float:
        return max(b.answered for b in self.batches) - self.load_start

    @property
    def load_end(self) -> float:
        return max(b.answered for b in self.batches)

    def latencies(
        self, status: str | tuple[str, ...] | None = None, *, until: float | None = None
    ) -> list[float]:
        chosen = (status,) if isinstance(status, str) else status
        return sorted(
            e.latency_ms
            for e in self.events
            if (chosen is None or e.status in chosen) and (until is None or e.occurred <= until)
        )


def run_latency(workdir: Path, *, scaled_out: bool, options: Options, findings: Findings) -> LatencyRun:
    mode = "scaled out" if scaled_out else "embedded"
    with start_gateway(workdir, scaled_out=scaled_out, options=options) as (gateway, description):
        print(f"\n== 1. latency, {description}", flush=True)
        output = workdir / "events.tsv"
        argv = [LATENCY_SUBSCRIBER, gateway.ws_url, gateway.key, str(output)]
        with ExitStack() as children:
            subscriber = children.enter_context(child("latency subscriber", argv, workdir / "subscriber.log"))
            subscriber.expect("SUBSCRIBED", CHILD_START_TIMEOUT)
            tapped = workdir / "redis.tsv"
            if gateway.redis_url is not None:
                tap_argv = [REDIS_TAP, gateway.redis_url, str(tapped)]
                tap = children.enter_context(child("redis tap", tap_argv, workdir / "tap.log"))
                tap.expect("SUBSCRIBED", CHILD_START_TIMEOUT)
            log = EventLog(output)
            # Warm-up (not measured): one message, then one batch, each until all its events arrived.
            probe = send_probe(gateway, 900_000)
            if not log.wait_for([probe], PROBE_TIMEOUT):
                raise RuntimeError(f"the probe message's events did not arrive: {log.by_key}")
            warm, _ = offer_load(gateway, _one_batch(options), 800_000)
            if warm[0].error or not log.wait_for(warm[0].message_ids, 120):
                raise RuntimeError(
                    f"warm-up batch failed: {warm[0].error}, {log.complete(warm[0].message_ids)}"
                )
            skip = len(log.events)
            offered = f"{options.rate:,.0f} msg/s for {options.duration:.0f}s"
            print(f"warm-up done ({skip} events); offering {offered}", flush=True)
            meter = CpuMeter(
                gateway.pids | {"subscriber (client)": subscriber.pid, "load (client)": os.getpid()}
            )
            profiles = _profile_paths(options, mode, gateway)
            with ExitStack() as recording:
                for pid, path in profiles.items():
                    recording.enter_context(py_spy_recording(options.py_spy, pid, path))
                meter.start()
                started = time.monotonic()
                batches, load_start = offer_load(gateway, options, 0)
                ids = [i for b in batches for i in b.message_ids]
                answered = max(b.answered for b in batches) - load_start
                accepted = f"{len(ids):,} messages accepted in {answered:.2f}s"
                print(f"load offered: {accepted}; waiting for events", flush=True)
                drained = log.wait_for(ids, options.drain_timeout)
                cpu = meter.stop()
                cpu_seconds = time.monotonic() - started
            time.sleep(1.0)  # anything extra (a duplicate) would show up now
            log.read()
        limit = open_files_limit(gateway.server.pid)
        if not drained:
            incomplete = [m for m in ids if not all(log.by_key[(m, s)] for s in STATUSES)]
            print(asyncio.run(explain_missing(gateway.database_url, incomplete)), flush=True)
    for batch in batches:
        if batch.error:
            findings.errors.append(f"1. {mode}: batch {batch.index}: {batch.error}")
    if not drained:
        findings.errors.append(f"1. {mode}: events still missing after the wait (see the table)")
    events = log.events[skip:]
    run = LatencyRun(
        mode, description, batches, load_start, ids, events, log.problems, cpu, cpu_seconds, limit
    )
    if tapped.exists():
        run.on_redis = read_tap(tapped)
    check_events(run, findings)
    for path in profiles.values():
        _print_profile(path, cpu_seconds)
    return run


async def explain_missing(database_url: str, message_ids: list[int]) -> str:
    """What the database says about messages whose events did not all arrive: their status, and the
    times of the events stored for them (relative to their `sending` event)."""
    engine = create_async_engine(database_url)
    query = text(
        "SELECT m.id, m.status, e.status, e.occurred_at FROM messages m JOIN message_events e"
        " ON e.message_id = m.id WHERE m.id IN (SELECT value FROM json_each(:ids)) ORDER BY m.id, e.id"
        if database_url.startswith("sqlite")
        else "SELECT m.id, m.status, e.status, e.occurred_at FROM messages m JOIN message_events e"
        " ON e.message_id = m.id WHERE m.id = ANY(CAST(:ids AS bigint[])) ORDER BY m.id, e.id"
    )
    ids: Any = json.dumps(message_ids) if database_url.startswith("sqlite") else message_ids
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(query, {"ids": ids})).all()
    finally:
        await engine.dispose()
    statuses = Counter(row[1] for row in {row[0]: row for row in rows}.values())
    lines = [f"{len(message_ids):,} messages lack events; their status in the database: {dict(statuses)}"]
    timelines: dict[int, dict[str, datetime]] = defaultdict(dict)
    for message_id, _, status, occurred in rows:
        when = occurred if isinstance(occurred, datetime) else datetime.fromisoformat(str(occurred))
        timelines[message_id][status] = when
    for message_id, timeline in list(timelines.items())[:10]:
        start = timeline.get("sending") or min(timeline.values())
        steps = ", ".join(f"{s} {(t - start).total_seconds() * 1000:+.0f} ms" for s, t in timeline.items())
        lines.append(f"  message {message_id}: {steps}")
    return "\n".join(lines)


def read_tap(path: Path) -> dict[int, float]:
    """cursor -> the time the Redis tap received the event (the first time, if published twice)."""
    seen: dict[int, float] = {}
    for line in path.read_text().splitlines():
        stamp, _, payload = line.partition("\t")
        # gateway/bus_wire.py encode(): one message holds a list of [cursor, tenant_id, ...]
        for event in json.loads(payload):
            seen.setdefault(int(event[0]), float(stamp))
    return seen


def _one_batch(options: Options) -> Options:
    return dataclasses.replace(options, duration=BATCH_SIZE / options.rate, concurrency=1)


def check_events(run: LatencyRun, findings: Findings) -> None:
    """Exactly one event per status and message, in the order of STATUSES (by cursor and arrival)."""
    expected = set(run.expected_ids)
    by_message: dict[int, list[Received]] = defaultdict(list)
    for event in run.events:
        by_message[event.message_id].append(event)
    missing = sum(
        1 for m in expected for s in STATUSES if not any(e.status == s for e in by_message.get(m, []))
    )
    repeated = sum(
        count - 1 for count in Counter((e.message_id, e.status) for e in run.events).values() if count > 1
    )
    strangers = sum(len(events) for m, events in by_message.items() if m not in expected)
    rank = {status: index for index, status in enumerate(STATUSES)}
    disordered = [
        m
        for m in expected
        if any(rank[a.status] >= rank[b.status] for a, b in pairwise(by_message.get(m, [])))
    ]
    out_of_order = len(disordered)
    for m in disordered[:5]:  # how: arrival order, with each event's cursor and time since the first
        first = by_message[m][0]
        steps = [f"{e.status} #{e.cursor} occurred {(e.occurred - first.occurred) * 1000:+.0f} ms"
                 f" arrived {(e.arrived - first.arrived) * 1000:+.0f} ms" for e in by_message[m]]  # fmt: skip
        print(f"  out of order: message {m}: " + ", ".join(steps), flush=True)
    for label, count in (
        ("events missing", missing),
        ("events received twice", repeated),
        ("events of messages this run did not send", strangers),
        ("messages whose events arrived out of order", out_of_order),
        ("error or unexpected messages on the socket", len(run.problems)),
    ):
        if count:
            findings.errors.append(f"1. {run.mode}: {count:,} {label}")
    run.problems[:] = run.problems[:5]


def _profile_paths(options: Options, mode: str, gateway: Gateway) -> dict[int, Path]:
    if options.profile_dir is None:
        return {}
    slug = mode.replace(" ", "-")
    paths = {gateway.server.pid: options.profile_dir / f"{slug}-gateway.collapsed"}
    for index, pid in enumerate(gateway.workers, start=1):
        paths[pid] = options.profile_dir / f"{slug}-worker-{index}.collapsed"
    return paths


def _print_profile(path: Path, seconds: float) -> None:
    if path.exists():
        print("\n" + summarize_pipeline(path, duration=seconds), flush=True)


def print_latency(run: LatencyRun, options: Options) -> None:
    received = len(run.events)
    expected = len(run.expected_ids) * len(STATUSES)
    print(f"\n### {run.description}\n")
    print("| events | received | expected | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, list[float], str]] = [
        (status, run.latencies(status), f"{len(run.expected_ids):,}") for status in STATUSES
    ]
    rows.append(("all", run.latencies(), f"{expected:,}"))
    worker_made = run.latencies(WORKER_STATUSES)
    rows.append(
        ("the worker's changes (sending, sent, delivered)", worker_made, f"{len(run.expected_ids) * 3:,}")
    )
    during = run.latencies(until=run.load_end)
    rows.append(("all, status changed before the last batch was answered", during, "-"))
    for name, values, wanted in rows:
        print(
            f"| {name} | {len(values):,} | {wanted} | {percentile(values, 0.5):.1f}"
            f" | {percentile(values, 0.9):.1f} | {percentile(values, 0.99):.1f}"
            f" | {max(values, default=float('nan')):.1f} |"
        )
    if run.on_redis:
        print_split(run)
    print_tail(run)
    delivered = sorted(e.arrived for e in run.events if e.status == "delivered")
    last_event = max((e.arrived for e in run.events), default=run.load_start)
    events_rate = received / max(last_event - run.load_start, 1e-9)
    delivered_rate = len(delivered) / max(
        (delivered[-1] if delivered else run.load_start) - run.load_start, 1e-9
    )
    in_window = sum(1 for e in run.events if e.status == "delivered" and e.arrived <= run.load_end)
    batch_ms = sorted((b.answered - b.started) * 1000 for b in run.batches)
    late = max((b.started - b.due for b in run.batches), default=0.0)
    print()
    print("| | |")
    print("|---|---:|")
    offered = f"{options.rate:,.0f} msg/s for {options.duration:.0f} s"
    shape = f"{len(run.batches)} batches of {BATCH_SIZE}, at most {options.concurrency} in flight"
    print(f"| offered | {offered} ({shape}) |")
    accept_rate = run.accepted / run.accept_seconds
    print(
        f"| accepted | {run.accepted:,} messages in {run.accept_seconds:.2f} s"
        f" = **{accept_rate:,.0f} msg/s** |"
    )
    print(f"| send-batch answer, median / max | {percentile(batch_ms, 0.5):.0f} / {batch_ms[-1]:.0f} ms |")
    print(f"| latest batch start behind schedule | {late * 1000:.0f} ms |")
    window_rate = in_window / run.accept_seconds
    print(
        f"| delivered events during the load (until the last batch answer) | {in_window:,}"
        f" ({window_rate:,.0f}/s) |"
    )
    print(f"| delivered event rate, first send → last delivered | **{delivered_rate:,.0f} msg/s** |")
    all_after = f"{last_event - run.load_start:.1f} s ({events_rate:,.0f} events/s)"
    print(f"| all events received after | {all_after} |")
    print(f"| gateway's open-files limit (soft) | {run.fds_limit} |")
    span = f"the {run.cpu_seconds:.1f} s from the first batch to the last event"
    print(f"\nCPU (cores, averaged over {span}):\n")
    print("| process | cores |")
    print("|---|---:|")
    for name, cores in run.cpu.items():
        print(f"| {name} | {cores:.2f} |")
    if run.problems:
        print("\nunexpected socket messages (first 5): " + "; ".join(run.problems))


def print_tail(run: LatencyRun, *, over_ms: float = TARGET_P99_MS, windows: int = 8) -> None:
    """When the events over the target changed status: the busiest 100 ms windows of them (a few
    windows point at stalls of the process, many at a steady overload)."""
    slow = [e for e in run.events if e.latency_ms > over_ms]
    if not slow:
        return
    by_window: dict[int, list[Received]] = defaultdict(list)
    for event in slow:
        by_window[int((event.occurred - run.load_start) * 10)].append(event)
    busiest = sorted(by_window.items(), key=lambda item: -len(item[1]))[:windows]
    where = f"{len(slow):,} in {len(by_window)} windows of 100 ms"
    print(f"\nEvents over {over_ms:.0f} ms: {where}; the busiest:\n")
    print("| status changed at (s after the first batch) | events | max ms | statuses |")
    print("|---:|---:|---:|---|")
    for window, events in sorted(busiest):
        counts = Counter(e.status for e in events).most_common()
        statuses = ", ".join(f"{name} {count}" for name, count in counts)
        print(f"| {window / 10:.1f} | {len(events)} | {max(e.latency_ms for e in events):.0f} | {statuses} |")


def print_split(run: LatencyRun) -> None:
    """Scaled out: each latency in two parts, joined by cursor with what the Redis tap saw."""
    print("\nSplit at Redis (a tap subscribed to the same channels stamps each publish as it arrives):\n")
    print("| events | tapped | change -> Redis p50 / p99 ms | Redis -> subscriber p50 / p99 / max ms |")
    print("|---|---:|---:|---:|")
    for status in (*STATUSES, None):
        chosen = [
            e for e in run.events if (status is None or e.status == status) and e.cursor in run.on_redis
        ]
        before = sorted((run.on_redis[e.cursor] - e.occurred) * 1000 for e in chosen)
        after = sorted((e.arrived - run.on_redis[e.cursor]) * 1000 for e in chosen)
        print(
            f"| {status or 'all'} | {len(chosen):,}"
            f" | {percentile(before, 0.5):.1f} / {percentile(before, 0.99):.1f}"
            f" | {percentile(after, 0.5):.1f} / {percentile(after, 0.99):.1f} / {max(after, default=0):.1f} |"
        )


def judge_latency(run: LatencyRun, options: Options, findings: Findings) -> None:
    p99 = percentile(run.latencies(), 0.99)
    rate = run.accepted / run.accept_seconds
    delivered = [e.arrived for e in run.events if e.status == "delivered"]
    delivered_rate = len(delivered) / max(max(delivered, default=run.load_start) - run.load_start, 1e-9)
    findings.judge(
        f"1. {run.mode}: p99 from status change to subscriber (all events)",
        f"{p99:.1f} ms",
        f"< {TARGET_P99_MS:.0f} ms",
        met=p99 < TARGET_P99_MS,
        ratio=f"p99 / target = {p99 / TARGET_P99_MS:.2f}",
    )
    worker_p99 = percentile(run.latencies(WORKER_STATUSES), 0.99)
    findings.judge(
        f"1. {run.mode}: p99 from the worker's status change to subscriber (sending, sent, delivered)",
        f"{worker_p99:.1f} ms",
        f"< {TARGET_P99_MS:.0f} ms",
        met=worker_p99 < TARGET_P99_MS,
        ratio=f"p99 / target = {worker_p99 / TARGET_P99_MS:.2f}",
    )
    flow = min(rate, delivered_rate)
    findings.judge(
        f"1. {run.mode}: messages/s flowing (accepted {rate:,.0f}/s, delivered {delivered_rate:,.0f}/s)",
        f"{flow:,.0f} msg/s",
        f">= {TARGET_RATE:,.0f} msg/s",
        met=flow >= TARGET_RATE * 0.95 and options.rate >= TARGET_RATE,
        ratio=f"flow / target = {flow / TARGET_RATE:.2f}",
    )


def open_files_limit(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return f"{soft} (hard {hard})"
    except OSError:
        pass
    return "unknown"


# --- 2. memory of idle subscriptions -------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    step: str
    rss_kb: int
    pss_kb: int
    fds: int

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024


def measure_memory(pid: int, step: str, *, settle: float = 3.0) -> Memory:
    """VmRSS (status) and Pss (smaps_rollup) after `settle` seconds, and the number of open fds."""
    time.sleep(settle)
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    memory = Memory(step, rss, pss, fds)
    print(f"  {step}: VmRSS {memory.rss_mb:.1f} MB, Pss {pss / 1024:.1f} MB, {fds} open fds", flush=True)
    return memory


@dataclass
class MemoryRun:
    steps: list[Memory] = field(default_factory=list)
    opened_s: list[float] = field(default_factory=list)
    closed_s: list[float] = field(default_factory=list)
    client_limit: str = ""
    gateway_limit: str = ""
    idle_cpu: dict[str, float] = field(default_factory=dict)


def run_memory(workdir: Path, options: Options, findings: Findings) -> MemoryRun:
    result = MemoryRun()
    count = options.subscriptions
    with start_gateway(workdir, scaled_out=False, options=options) as (gateway, description):
        pid = gateway.server.pid
        result.gateway_limit = open_files_limit(pid)
        print(f"\n== 2. memory, {description}; gateway open-files limit {result.gateway_limit}", flush=True)
        # Warm-up: the send path and the subscription path once each (10 subscriptions, one message).
        _subscription_cycle(
            gateway, workdir, 10, options=options, label="warm-up", result=result, measure=False
        )
        result.steps.append(measure_memory(pid, "after warm-up, 0 subscriptions"))
        for cycle in range(1, options.cycles + 1):
            meter = CpuMeter({"weconn serve (embedded)": pid})
            _subscription_cycle(
                gateway, workdir, count, options=options, label=f"cycle {cycle}", result=result, meter=meter
            )
        result.steps.append(measure_memory(pid, "30 s later", settle=30))
    base = result.steps[0]
    opened = [s for s in result.steps if "open" in s.step]
    if opened:
        delta_mb = (opened[0].rss_kb - base.rss_kb) / 1024
        findings.judge(
            f"2. memory of {count:,} idle subscriptions (first cycle, VmRSS delta)",
            f"{delta_mb:.1f} MB ({delta_mb * 1024 / count:.0f} KB each)",
            f"< {TARGET_MEMORY_MB:.0f} MB",
            met=delta_mb < TARGET_MEMORY_MB * count / 1000,
            ratio=f"delta / target = {delta_mb / (TARGET_MEMORY_MB * count / 1000):.2f}",
        )
    closed = [s for s in result.steps if "closed" in s.step]
    if len(closed) >= 2 and opened:
        growth = (closed[-1].rss_kb - closed[1 if len(closed) > 2 else 0].rss_kb) / 1024
        open_delta = (opened[0].rss_kb - base.rss_kb) / 1024
        allowed = max(0.1 * open_delta, 5.0)
        findings.judge(
            "2. memory after closing keeps growing? (VmRSS after the last close - after the second)",
            f"{growth:+.1f} MB",
            f"< {allowed:.1f} MB",
            met=growth < allowed,
        )
    return result


def _subscription_cycle(
    gateway: Gateway,
    workdir: Path,
    count: int,
    *,
    options: Options,
    label: str,
    result: MemoryRun,
    measure: bool = True,
    meter: Any = None,
) -> None:
    compression = "deflate" if options.deflate else "none"
    argv = [
        IDLE_SUBSCRIBERS,
        gateway.ws_url,
        gateway.key,
        str(count),
        str(options.open_concurrency),
        compression,
    ]
    log = workdir / f"idle-{label.replace(' ', '-')}.log"
    with child(f"{count} idle subscribers", argv, log) as subscribers:
        soft, hard = subscribers.expect("LIMIT", CHILD_START_TIMEOUT)
        result.client_limit = f"{soft} (hard {hard})"
        opened, seconds = subscribers.expect("OPENED", OPEN_TIMEOUT + 10)
        print(f"{label}: {opened} subscriptions open in {float(seconds):.1f}s", flush=True)
        probe = send_probe(gateway, 700_000 + len(result.steps))
        subscribers.tell(f"WAIT {probe}")
        complete, extra, failures, first = [*subscribers.expect("RECEIVED", PROBE_TIMEOUT + 10), ""][:4]
        if int(complete) != count or int(extra) or int(failures):
            raise RuntimeError(
                f"{label}: {complete} of {count} subscriptions got the probe's 4 events ({extra} got more, "
                f"{failures} failed: {first})"
            )
        if measure:
            result.opened_s.append(float(seconds))
            result.steps.append(measure_memory(gateway.server.pid, f"{label}: {count:,} subscriptions open"))
            if meter is not None and not result.idle_cpu:
                meter.start()
                time.sleep(10)
                result.idle_cpu = meter.stop()
        subscribers.tell("CLOSE")
        _, seconds = subscribers.expect("CLOSED", CLOSE_TIMEOUT + 10)
        if measure:
            result.closed_s.append(float(seconds))
            result.steps.append(measure_memory(gateway.server.pid, f"{label}: all closed"))


def print_memory(run: MemoryRun, options: Options) -> None:
    base = run.steps[0]
    deflate = "offering permessage-deflate" if options.deflate else "without permessage-deflate"
    print(f"\n### memory: one embedded gateway, {options.subscriptions:,} idle subscriptions ({deflate})\n")
    print("| step | VmRSS MB | Δ VmRSS MB | Pss MB | Δ Pss MB | gateway fds |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in run.steps:
        print(
            f"| {s.step} | {s.rss_mb:.1f} | {(s.rss_kb - base.rss_kb) / 1024:+.1f} | {s.pss_kb / 1024:.1f}"
            f" | {(s.pss_kb - base.pss_kb) / 1024:+.1f} | {s.fds} |"
        )
    opened = [s for s in run.steps if "open" in s.step]
    per = ", ".join(f"{(s.rss_kb - base.rss_kb) / options.subscriptions:.0f}" for s in opened)
    print(f"\nper subscription (VmRSS delta / {options.subscriptions:,}, each cycle): {per} KB")
    opening = ", ".join(f"{seconds:.1f}" for seconds in run.opened_s)
    closing = ", ".join(f"{seconds:.1f}" for seconds in run.closed_s)
    print(f"opening took {opening} s; closing {closing} s")
    print(f"open-files limit: client {run.client_limit}, gateway {run.gateway_limit}")
    if run.idle_cpu:
        cpu = "; ".join(f"{name} {cores:.3f}" for name, cores in run.idle_cpu.items())
        print(f"gateway CPU over 10 s with {options.subscriptions:,} idle subscriptions (cores): {cpu}")


# --- main -----------------------------------------------------------------------------------------


def print_header() -> None:
    print("command: " + shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO_DIR, timeout=10,
        check=False,
    )  # fmt: skip
    print(f"commit: {done.stdout.strip() or 'unknown'}")
    code = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        capture_output=True, text=True, timeout=30, check=False, cwd="/",
    )  # fmt: skip
    service_dir = Path(code.stdout.strip()).parent.parent if code.returncode == 0 else None
    if service_dir is not None:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=service_dir,
            timeout=10, check=False,
        )  # fmt: skip
        print(f"service code: {service_dir} at {described.stdout.strip() or 'unknown'}")
    for name, value in machine_description().items():
        if name != "wrk":
            print(f"{name}: {value}")
    print("load average at start: " + ", ".join(f"{value:.2f}" for value in os.getloadavg()), flush=True)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in (LATENCY_SUBSCRIBER, IDLE_SUBSCRIBERS, REDIS_TAP):
        return child_main(args)
    options = parse_args(args)
    require_fast_uvicorn()
    exit_cleanly_on_sigterm()
    print_header()
    findings = Findings()
    with tempfile.TemporaryDirectory(prefix="weconn-subscriptions-bench-") as tmp:
        workdir = Path(tmp)
        modes = [] if options.skip_latency or options.skip_embedded else [False]
        modes += [True] if options.database_url and not options.skip_latency else []
        for scaled_out in modes:  # each part on its own: a failed one does not skip the others
            name = "scaled out" if scaled_out else "embedded"
            try:
                run = run_latency(
                    workdir / name.replace(" ", "-"),
                    scaled_out=scaled_out,
                    options=options,
                    findings=findings,
                )
            except RuntimeError as error:
                findings.errors.append(f"1. {name}: {str(error)[:3000]}")
                continue
            print_latency(run, options)
            judge_latency(run, options, findings)
        if not options.skip_memory:
            try:
                memory = run_memory(workdir / "memory", options, findings)
            except RuntimeError as error:
                findings.errors.append(f"2. memory: {str(error)[:3000]}")
            else:
                print_memory(memory, options)
    return report(findings)


if __name__ == "__main__":
    sys.exit(main())
