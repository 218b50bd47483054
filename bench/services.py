"""The processes a messaging benchmark runs beside the gateway: Redis, the provider stub, workers;
and two instruments: CPU time per process, and py-spy recordings stopped on demand.

Every process runs in its own process group and is stopped (SIGTERM, then SIGKILL) when its
context ends, also on errors.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from harness import BENCH_DIR, REPO_DIR, UVICORN_FLAGS, Server, free_port, serve, stop_process
from profiling import RATE

READY_PATH = "/readyz"
WORKER_READY = "weconn worker consuming"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def weconn_executable() -> Path:
    weconn = Path(sys.executable).parent / "weconn"
    if not weconn.exists():
        raise SystemExit(f"{weconn} is missing; run make .venv/.installed-stamp")
    return weconn


def weconn_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment without any WECONN_* of the caller, plus a data dir, quiet logs and `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("WECONN_")}
    return env | {"WECONN_DATA_DIR": str(data_dir), "WECONN_LOG_LEVEL": "warning", **extra}


def serve_weconn(workdir: Path, name: str, env: Mapping[str, str]) -> AbstractContextManager[Server]:
    port = free_port()
    command = [str(weconn_executable()), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / f"{name}.log"
    return serve(name, command, env=env, port=port, log_path=log_path, ready_path=READY_PATH)


def serve_provider_stub(
    workdir: Path, *, account_sid: str, auth_token: str, smtp_port: int | None
) -> AbstractContextManager[Server]:
    """bench/provider_stub.py in its own uvicorn process (same settings as the servers measured)."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "provider_stub:app",
        "--app-dir", str(BENCH_DIR),
        "--host", "127.0.0.1",
        "--port", str(port),
        *UVICORN_FLAGS,
    ]  # fmt: skip
    env = dict(os.environ) | {"BENCH_TWILIO_ACCOUNT_SID": account_sid, "BENCH_TWILIO_AUTH_TOKEN": auth_token}
    if smtp_port is not None:
        env["BENCH_SMTP_PORT"] = str(smtp_port)
    log_path = workdir / "provider-stub.log"
    return serve("provider stub", command, env=env, port=port, log_path=log_path, ready_path="/_stats")


@dataclass(frozen=True)
class Redis:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_server(workdir: Path, timeout: float = 10.0) -> Iterator[Redis]:
    """A throw-away redis-server on a free port, without persistence."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    command = [
        executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--logfile", str(workdir / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_for_pong(process, port, timeout)
        yield Redis(process=process, port=port)
    finally:
        stop_process(process)


def _wait_for_pong(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING within {timeout:.0f}s")


@dataclass(frozen=True)
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def weconn_workers(
    workdir: Path,
    count: int,
    *,
    threads: int,
    env: Mapping[str, str],
    start_timeout: float = 60.0,
    command: Sequence[str] | None = None,
) -> Iterator[list[Worker]]:
    """`count` processes of `weconn worker --threads N`, each ready (consuming) before this yields.
    `command` replaces `weconn worker` (a launcher that must log WORKER_READY too)."""
    base = list(command) if command is not None else [str(weconn_executable()), "worker"]
    with ExitStack() as stack:
        workers = [
            stack.enter_context(_worker(workdir, index, threads, env, base)) for index in range(1, count + 1)
        ]
        deadline = time.monotonic() + start_timeout
        for worker in workers:
            _wait_consuming(worker, deadline)
        yield workers


@contextmanager
def _worker(
    workdir: Path, index: int, threads: int, env: Mapping[str, str], base: list[str]
) -> Iterator[Worker]:
    log_path = workdir / f"worker-{index}.log"
    command = [*base, "--threads", str(threads)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_DIR, start_new_session=True
        )
    try:
        yield Worker(name=f"worker {index}", process=process, log_path=log_path)
    finally:
        stop_process(process)


def _wait_consuming(worker: Worker, deadline: float) -> None:
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"{worker.name} exited with {worker.process.returncode}:\n{worker.log_text()}")
        if WORKER_READY in worker.log_text():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{worker.name} was not consuming in time:\n{worker.log_text()}")


# --- instruments -------------------------------------------------------------------------------


@dataclass
class CpuMeter:
    """Cores used between start and stop by named processes and their busiest thread (an event
    loop saturates one thread), by PostgreSQL, and by all processes. These are the scheduler's
    exact run times per process; /proc/stat's tick-sampled totals undercount the many short bursts
    of this workload. Group totals include the reaped children of each process, so a backend (or
    any process) that exits during the measurement still counts, through its parent."""

    pids: dict[str, int]
    processes: dict[str, float] = field(default_factory=dict)
    threads: dict[str, dict[int, float]] = field(default_factory=dict)
    postgres: float = 0.0
    everyone: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.processes = {name: _cpu_seconds(Path(f"/proc/{pid}")) for name, pid in self.pids.items()}
        self.threads = {name: _thread_seconds(pid) for name, pid in self.pids.items()}
        self.postgres, self.everyone = _postgres_processes(), _every_process()
        self.started_at = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        used: dict[str, float] = {}
        for name, pid in self.pids.items():
            used[name] = (_cpu_seconds(Path(f"/proc/{pid}")) - self.processes[name]) / elapsed
            now = _thread_seconds(pid)
            busiest = max(
                (value - self.threads[name].get(tid, 0.0) for tid, value in now.items()), default=0.0
            )
            used[f"{name}: busiest thread"] = busiest / elapsed
        used["postgres (all backends)"] = (_postgres_processes() - self.postgres) / elapsed
        used["all processes of the machine"] = (_every_process() - self.everyone) / elapsed
        return used


def _cpu_seconds(proc: Path, *, reaped_children: bool = False) -> float:
    """utime + stime of a process (/proc/PID) or a thread (/proc/PID/task/TID), and optionally
    cutime + cstime (the children it has waited for)."""
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def _thread_seconds(pid: int) -> dict[int, float]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return {}
    return {int(task.name): _cpu_seconds(task) for task in tasks}


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        with suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                pids.append(int(entry.name))
    return pids


def _postgres_processes() -> float:
    """The postmaster with the backends it has reaped, plus the live backends."""
    return sum(_cpu_seconds(Path(f"/proc/{pid}"), reaped_children=True) for pid in _pids_named("postgres"))


def _every_process() -> float:
    entries = (entry for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return sum(_cpu_seconds(entry, reaped_children=True) for entry in entries)


@contextmanager
def py_spy_recording(py_spy: str | None, pid: int, output: Path | None) -> Iterator[None]:
    """Samples the GIL holder of `pid` (as bench/profiling.py does) until the block ends."""
    if py_spy is None or output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        py_spy, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw", "--function",
        "--gil", "--nonblocking", "--output", str(output),
    ]  # fmt: skip
    sampler = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        yield
    finally:
        _stop_py_spy(sampler)


def _stop_py_spy(sampler: subprocess.Popen[bytes]) -> None:
    """SIGINT makes py-spy write its output and exit; anything slower is killed."""
    if sampler.poll() is None:
        with suppress(ProcessLookupError):
            sampler.send_signal(signal.SIGINT)
    try:
        _, errors = sampler.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process(sampler)
        return
    if sampler.returncode not in {0, -signal.SIGINT}:
        print(f"py-spy failed ({sampler.returncode}): {errors.decode(errors='replace')}", file=sys.stderr)
