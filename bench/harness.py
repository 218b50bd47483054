"""Reusable pieces of the load benchmarks: servers as child processes, wrk runs, machine facts.

Every benchmark script in bench/ (contacts today; messaging, campaigns later) builds on these, so
that all of them start servers the same way and report numbers in the same shape.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WRK_MISSING = (
    "wrk (the HTTP load generator) is not installed.\n"
    "Install it with:  apt-get install wrk   (Debian/Ubuntu; run apt-get update first)"
)
NON_2XX_LINE = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")

# The uvicorn settings both servers run with. `weconn serve` calls uvicorn.run() with access_log=False
# and proxy_headers=True in-process (one worker); loop and http are "auto", which resolve to uvloop and
# httptools when those are importable, as require_fast_uvicorn() checks.
UVICORN_FLAGS = (
    "--workers", "1",
    "--loop", "uvloop",
    "--http", "httptools",
    "--no-access-log",
    "--log-level", "warning",
    "--proxy-headers",
)  # fmt: skip

# Shared by every Lua script: numbers each wrk thread, and prints one JSON line with the results.
LUA_COMMON = r"""
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

body_errors = 0

function done(summary, latency, requests)
  local bad_bodies = 0
  for _, thread in ipairs(threads) do
    bad_bodies = bad_bodies + (thread:get("body_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"status_errors":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"body_errors":%d}\n',
    summary.requests, summary.duration, math.floor(latency:percentile(50)),
    math.floor(latency:percentile(90)), math.floor(latency:percentile(99)), math.floor(latency.max),
    e.status, e.connect, e.read, e.write, e.timeout, bad_bodies))
end
"""

# Counts 2xx responses whose body contains a marker (GraphQL reports errors with status 200).
LUA_BODY_CHECK = r"""
function response(status, headers, body)
  if body and string.find(body, %s, 1, true) then
    body_errors = body_errors + 1
  end
end
"""


def require_wrk() -> str:
    """The path of wrk, or exit with a message saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(WRK_MISSING)
    return path


def require_fast_uvicorn() -> None:
    """Both servers must run on uvloop + httptools; stop early when this interpreter lacks them."""
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
        except ImportError:
            raise SystemExit(f"{module} is missing from {sys.executable}; see the Makefile") from None


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A server running as a child process (its own process group) on a loopback port."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def serve(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    port: int,
    log_path: Path,
    ready_path: str,
    start_timeout: float = 60.0,
) -> Iterator[Server]:
    """Start `command`, wait until GET `ready_path` answers 200, and always stop it afterwards."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_DIR, start_new_session=True
        )
    server = Server(name=name, process=process, port=port, log_path=log_path)
    try:
        _wait_ready(server, ready_path, start_timeout)
        yield server
    finally:
        stop_process(process)


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            status, _ = http_json("GET", server.url + path, timeout=2.0)
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready after {timeout:.0f}s:\n{server.log_text()}")


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group of a child started with start_new_session, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop servers and remove temp dirs."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def http_json(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request with the standard library; returns the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"benchmarks only talk to loopback servers, not {url}")
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback URL
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def lua_script(body: str, *, body_error_marker: str | None = None) -> str:
    """A complete wrk script: the scenario's own Lua, the shared result printer, an optional check."""
    check = "" if body_error_marker is None else LUA_BODY_CHECK % lua_string(body_error_marker)
    return body + LUA_COMMON + check


def lua_string(value: str) -> str:
    """A Lua long-bracket string literal that holds `value` verbatim."""
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    return f"[{'=' * level}[{value}]{'=' * level}]"


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured. Latencies in milliseconds."""

    name: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    body_errors: int
    non_2xx_line: str | None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def ok_rps(self) -> float:
        """Requests per second that were real successes (2xx and no error in the body)."""
        return (self.requests - self.non_2xx - self.body_errors) / self.duration_s

    @property
    def failed(self) -> bool:
        return bool(self.non_2xx or self.socket_errors or self.body_errors)


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    script: Path,
    *,
    duration: int,
    connections: int,
    threads: int,
) -> WrkResult:
    """Run wrk against `url` with `script`, bounded in time, and parse its BENCH_RESULT line."""
    command = [
        wrk,
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={duration}s",
        "--timeout=10s",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}) for {name}:\n{completed.stderr}")
    return _parse_wrk(name, completed.stdout)


def _parse_wrk(name: str, output: str) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH_RESULT line for {name}:\n{output}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    non_2xx = NON_2XX_LINE.search(output)
    return WrkResult(
        name=name,
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        non_2xx=raw["status_errors"],
        socket_errors=sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        body_errors=raw["body_errors"],
        non_2xx_line=non_2xx.group(0) if non_2xx else None,
    )


def results_table(results: list[WrkResult]) -> str:
    """A Markdown table of the results, ready to paste into docs/benchmarks.md."""
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | max ms | requests | non-2xx | socket err | body err |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r.name} | {r.ok_rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.1f} | {r.requests:,}"
        f" | {r.non_2xx} | {r.socket_errors} | {r.body_errors} |"
        for r in results
    )
    return "\n".join(lines)


def failure_banner(results: list[WrkResult]) -> str | None:
    """A loud multi-line warning naming every run that had errors, or None when all succeeded."""
    failed = [r for r in results if r.failed]
    if not failed:
        return None
    rule = "!" * 78
    lines = [rule, "!!! THIS RUN HAD ERRORS: its numbers are NOT valid measurements", rule]
    for r in failed:
        detail = r.non_2xx_line or f"Non-2xx or 3xx responses: {r.non_2xx}"
        lines.append(
            f"!!! {r.name}: {detail}; socket errors: {r.socket_errors}; error bodies: {r.body_errors}"
        )
    lines.append(rule)
    return "\n".join(lines)


def machine_description() -> dict[str, str]:
    """The facts that make numbers comparable between machines."""
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "memory": _memory_total(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "wrk": _wrk_version(),
    }


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def _memory_total() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"


def _wrk_version() -> str:
    path = shutil.which("wrk")
    if path is None:
        return "missing"
    completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" [")[0] if first else "unknown"
