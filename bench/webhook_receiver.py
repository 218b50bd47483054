"""The webhook receiver bench/webhooks.py delivers to: a bare asyncio HTTP/1.1 server (uvloop) that
answers every POST with 204 and keeps what the benchmark needs to check and time it.

    .venv/bin/python bench/webhook_receiver.py PORT

- `POST <any path>`: 204 at once; kept: the arrival time (`time.time()`), the `webhook-id`,
  `webhook-timestamp` and `webhook-signature` headers and the body (verified later, outside the
  measurement, by the benchmark with the `standardwebhooks` package). A `webhook-id` seen before
  counts as a duplicate.
- `GET /_stats`: `{"received", "distinct", "duplicates", "first_at", "last_at"}`.
- `GET /_dump`: every kept request, `[[id, received_at, timestamp, signature, body], ...]`.
- `POST /_reset`: forget everything (after the ceiling run).

Requests must carry `Content-Length` (every client here sends one); keep-alive unless the client
says `Connection: close`. No routing, no framework: the point is a receiver cheaper than any sender.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, cast

import orjson
import uvloop

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
Kept = tuple[str, float, str, str, str]


class Store:
    def __init__(self) -> None:
        self.kept: list[Kept] = []
        self.seen: set[bytes] = set()
        self.duplicates = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def keep(self, headers: dict[bytes, bytes], body: bytes) -> None:
        now = time.time()
        webhook_id = headers.get(b"webhook-id", b"")
        if webhook_id in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(webhook_id)
        self.first_at = self.first_at or now
        self.last_at = now
        self.kept.append((
            webhook_id.decode(), now, headers.get(b"webhook-timestamp", b"").decode(),
            headers.get(b"webhook-signature", b"").decode(), body.decode(),
        ))  # fmt: skip

    def stats(self) -> dict[str, Any]:
        return {
            "received": len(self.kept), "distinct": len(self.seen), "duplicates": self.duplicates,
            "first_at": self.first_at, "last_at": self.last_at,
        }  # fmt: skip


STORE = Store()


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.answer(lines[0].split(b" "), headers, body)

    def answer(self, request_line: list[bytes], headers: dict[bytes, bytes], body: bytes) -> None:
        assert self.transport is not None
        method, path = request_line[0], request_line[1] if len(request_line) > 1 else b"/"
        if method == b"POST" and path == b"/_reset":
            STORE.__init__()  # type: ignore[misc]
            self.transport.write(NO_CONTENT)
        elif method == b"POST":
            STORE.keep(headers, body)
            self.transport.write(NO_CONTENT)
        elif path == b"/_stats":
            self.json(STORE.stats())
        elif path == b"/_dump":
            self.json(STORE.kept)
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        if headers.get(b"connection", b"").lower() == b"close":
            self.transport.close()
            self.transport = None

    def json(self, value: Any) -> None:
        assert self.transport is not None
        payload = orjson.dumps(value)
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        self.transport.write(head.encode() + payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
