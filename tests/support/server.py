"""Starts `weconn serve` as a user does: a real process on a free port, its first-start key captured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WECONN = str(Path(sys.executable).with_name("weconn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    port: int
    data_dir: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def demo_key(self) -> str:
        keys = [line.strip() for line in self.output if line.startswith("wck_")]
        assert keys, "the first start printed no API key:\n" + "".join(self.output)
        return keys[-1]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def environment(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WECONN_")}
    env["WECONN_DATA_DIR"] = str(data_dir)
    if database_url and not database_url.startswith("sqlite"):
        env["WECONN_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def start_server(data_dir: Path, database_url: str | None = None, **extra: str) -> ServerProcess:
    port = free_port()
    env = environment(data_dir, database_url, WECONN_PORT=str(port), WECONN_LOG_LEVEL="warning", **extra)
    process = subprocess.Popen(
        [WECONN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = ServerProcess(port=port, data_dir=data_dir, process=process)
    threading.Thread(target=_drain, args=(process, server.output), daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("weconn serve exited:\n" + "".join(server.output))
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("weconn serve did not become ready:\n" + "".join(server.output))


def _drain(process: subprocess.Popen[str], sink: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line)  # noqa: PERF402 - each line must be visible while the process runs


def run_cli(data_dir: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WECONN, *args],
        env=environment(data_dir, database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
