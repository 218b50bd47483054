"""`weconn worker` processes for scaled-out tests: started as a user starts them, output collected."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import WECONN, environment


@dataclass
class WorkerProcess:
    """`weconn worker`, its stdout and stderr (Python's last-resort log handler) collected."""

    name: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def wait_consuming(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("weconn worker consuming" in line for line in self.output):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start consuming:\n{self.log()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def log(self, lines: int = 60) -> str:
        return f"--- {self.name} (last {lines} lines) ---\n" + "".join(self.output[-lines:])


def start_worker(
    name: str, data_dir: Path, database_url: str, *, threads: int, queues: str | None = None, **extra: str
) -> WorkerProcess:
    """`weconn worker --threads N` (consuming only `queues`, comma-separated, when given)."""
    process = subprocess.Popen(
        [WECONN, "worker", "--threads", str(threads), *(["--queues", queues] if queues else [])],
        env=environment(data_dir, database_url, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = WorkerProcess(name, process)
    threading.Thread(target=_drain, args=(process, worker.output), daemon=True).start()
    return worker


def _drain(process: subprocess.Popen[str], sink: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line)  # noqa: PERF402 - each line must be visible while the process runs


def stop_all(processes: list[subprocess.Popen[str]]) -> None:
    """SIGTERM to every process at once, then SIGKILL to whatever still runs 10 s later."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
