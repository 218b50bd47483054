"""A throw-away `redis-server` for scaled-out tests: a free port, no persistence, killable and
restartable on the same port, and a MONITOR tap that collects what passes through it.

`redis-server` is Debian's package (`tools/ensure-system-deps.sh` installs it for `make test`).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.support.server import free_port

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """`redis-server` on 127.0.0.1:`port` with `--save "" --appendonly no`: a restart loses everything."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed (make test installs it from Debian)")
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    def start(self, timeout: float = 10) -> RedisServer:
        assert REDIS_SERVER is not None
        assert self.process is None, "already running"
        command = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.logfile),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"redis-server exited at start:\n{self.log_tail()}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {timeout} s:\n{self.log_tail()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, every key (queues, delayed messages, acks) is gone."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.logfile.exists():
            return "(no redis log)"
        return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])


class MonitorTap:
    """Follows `MONITOR` of a `RedisServer` from a thread, reconnecting after restarts, and keeps
    every distinct match of `pattern` seen in the commands of any client, with the time
    (`time.monotonic()`) it was first seen.

    A restart leaves a short gap (between the new server answering and the tap reconnecting) in
    which commands are not seen; `gaps` counts the reconnections.
    """

    def __init__(self, redis: RedisServer, pattern: str) -> None:
        self.redis = redis
        self.pattern = re.compile(pattern.encode())
        self.seen: dict[str, float] = {}
        self.gaps = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-monitor", daemon=True)

    def start(self, timeout: float = 5) -> MonitorTap:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("MONITOR did not start")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def matches(self) -> dict[str, float]:
        with self._lock:
            return dict(self.seen)

    def _run(self) -> None:
        connected_before = False
        while not self._stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.redis.port), timeout=0.5) as sock:
                    sock.sendall(b"MONITOR\r\n")
                    if connected_before:
                        self.gaps += 1
                    connected_before = True
                    self._follow(sock)
            except OSError:
                time.sleep(0.005)

    def _follow(self, sock: socket.socket) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return  # the server went away
            buffer += chunk
            lines = buffer.split(b"\r\n")
            buffer = lines.pop()
            for line in lines:
                if line == b"+OK":
                    self._ready.set()
                    continue
                found = self.pattern.findall(line)
                if found:
                    now = time.monotonic()
                    with self._lock:
                        for match in found:
                            self.seen.setdefault(match.decode(), now)
