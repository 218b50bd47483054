"""A real HTTP server receiving webhooks in a thread: it records every request and answers as
each path is scripted (statuses in turn, a redirect; `/slow...` after 2 s, `/big...` with 6 KB), else 200."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verify(self, secret: str) -> Any:
        """The body as the `standardwebhooks` package reads it, once it checked the signature."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def script(self, path: str, *statuses: int) -> None:
        """Answer `path` with these statuses in turn, then 200."""
        with self.lock:
            self.scripts[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [request for request in self.requests if request.path == path]

    async def wait_for(
        self, path: str, count: int, seconds: float = 15, *, distinct: bool = False
    ) -> list[Received]:
        """The requests to `path` once `count` came (`distinct`: `count` different webhook-ids,
        repeats of an event not counting)."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.at(path)
            seen = len({request.webhook_id for request in found}) if distinct else len(found)
            if seen >= count:
                return found
            assert time.monotonic() < deadline, f"{path}: {seen} of {count} requests after {seconds} s"
            await asyncio.sleep(0.02)

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if path in self.redirects:
                return 302, {"Location": self.redirects[path]}, b""
            statuses = self.scripts.get(path)
            status = statuses.pop(0) if statuses else 200
        body = "é" * 3000 if path.startswith("/big") else f"answered {status}"  # 6,000 bytes of UTF-8
        return status, {}, body.encode()


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            expected = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(expected)
            if len(body) < expected:
                return  # the sender died mid-request (a killed worker): nothing was delivered
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver.lock:
                receiver.requests.append(Received(self.path, headers, body, time.monotonic()))
            if self.path.startswith("/slow"):
                time.sleep(2)  # a receiver that takes its time
            status, extra, answer = receiver.answer(self.path)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
