"""A small client of both GraphQL WebSocket protocols, for tests: `graphql-transport-ws` (current)
and `graphql-ws` (legacy, Apollo's subscriptions-transport-ws)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class GraphQLSocket:
    def __init__(self, url: str, payload: dict[str, Any] | None, *, protocol: str = TRANSPORT_WS,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.url = url
        self.payload = payload
        self.protocol = protocol
        self.headers = headers or {}
        self.socket: ClientConnection | None = None
        self.next_id = 0

    async def __aenter__(self) -> GraphQLSocket:
        self.socket = await connect(
            self.url,
            subprotocols=[self.protocol],
            additional_headers=self.headers,  # type: ignore[list-item]
        )
        init: dict[str, Any] = {"type": "connection_init"}
        if self.payload is not None:
            init["payload"] = self.payload
        await self.send(init)
        reply = await self.receive(10)
        if reply.get("type") != "connection_ack":
            raise ConnectionError(f"no connection_ack: {reply}")
        return self

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.socket is not None:
            await self.socket.close()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))

    async def receive(self, seconds: float) -> dict[str, Any]:
        assert self.socket is not None
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), seconds)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("type") == "ka":  # the legacy protocol's keep-alive
                continue
            return message

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, *, seconds: float = 30
    ) -> AsyncIterator[dict[str, Any]]:
        """The `data` of each result until the server completes the subscription (or time runs out)."""
        self.next_id += 1
        operation_id = str(self.next_id)
        start = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": operation_id, "type": start, "payload": {"query": query, "variables": variables or {}}}
        )
        while True:
            message = await self.receive(seconds)
            if message.get("id") != operation_id:
                continue
            if message["type"] in ("next", "data"):
                payload = message["payload"]
                if payload.get("errors"):
                    raise SubscriptionError(payload["errors"])
                yield payload["data"]
            elif message["type"] == "error":
                raise SubscriptionError(message.get("payload") or [])
            elif message["type"] == "complete":
                return


class SubscriptionError(RuntimeError):
    """The server's GraphQL errors for a subscription (a `next` with errors, or an `error`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"subscription error: {errors}")
        self.errors = errors

    @property
    def codes(self) -> list[str | None]:
        return [(error.get("extensions") or {}).get("code") for error in self.errors]


async def rejected_with(
    url: str, payload: dict[str, Any] | None, *, headers: dict[str, str] | None = None
) -> int:
    """The close code a server answers a `connection_init` with (0 if it acknowledged)."""
    async with connect(url, subprotocols=[TRANSPORT_WS], additional_headers=headers or {}) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            reply = json.loads(await asyncio.wait_for(socket.recv(), 10))
        except Exception:  # noqa: BLE001 - the close is what we want to see
            return int(socket.close_code or -1)
        return 0 if reply.get("type") == "connection_ack" else -2
