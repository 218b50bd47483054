"""The live lane (schema/live_lane.py) and Strawberry's path send the same frames.

Each subscription runs twice on one socket, in the form the lane takes (plain fields) and in a
form it leaves to Strawberry (the same fields inside an inline fragment), over the same events;
the payloads of their frames must be equal, errors included."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from gateway.settings import Settings
from schema import live_lane
from schema.root import build_schema
from tests.support.server import ServerProcess
from tests.support.ws_client import GraphQLSocket

FIELDS = "cursor messageId channel status occurredAt campaignId detail __typename when: occurredAt"
SEND = "/api/v1/integrations/messages/send"
SCHEMA = build_schema(Settings())


def both_forms(root: str) -> tuple[str, str]:
    """The lane's form of `subscription { <root> { FIELDS } }`, and Strawberry's."""
    variables = "$id: Int!" if "$id" in root else "$after: String"
    lane = f"subscription({variables}) {{ {root} {{ {FIELDS} }} }}"
    strawberry = f"subscription({variables}) {{ {root} {{ ... on DeliveryEvent {{ {FIELDS} }} }} }}"
    return lane, strawberry


async def frames(socket: GraphQLSocket, query: str, variables: dict[str, Any], wanted: int) -> list[Any]:
    """The payloads of the operation's frames until `complete` or until `wanted` of them came."""
    assert socket.socket is not None
    socket.next_id += 1
    operation = str(socket.next_id)
    await socket.send(
        {"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    )
    seen: list[Any] = []
    while len(seen) < wanted:
        message = json.loads(await asyncio.wait_for(socket.socket.recv(), 20))
        assert message["id"] == operation, message
        if message["type"] == "complete":
            break
        if message["type"] == "error":  # the operation is over: no `complete` follows
            seen.append((message["type"], message.get("payload")))
            return seen
        seen.append((message["type"], message.get("payload")))
    await socket.send({"id": operation, "type": "complete"})
    return seen


def takes_lane(query: str, variables: dict[str, Any]) -> bool:
    return live_lane.plan(SCHEMA._schema, SCHEMA.lane_config, query, variables, None) is not None


def send_one(server: ServerProcess, to: str) -> int:
    body = {"channel": "sms", "to": to, "body": "lane"}
    response = httpx.post(
        f"{server.base_url}{SEND}", json=body, headers={"X-API-Key": server.demo_key}, timeout=30
    )
    assert response.status_code == 202, response.text
    return int(response.json()["data"]["id"])


async def test_both_paths_send_the_same_frames(server: ServerProcess) -> None:
    first = await asyncio.to_thread(send_one, server, "+40740000901")
    second = await asyncio.to_thread(send_one, server, "+40740000902")
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with GraphQLSocket(url, {"X-API-Key": server.demo_key}) as socket:
        for message_id in (first, second):  # both final first, so that each form sees the same events
            await frames(socket, both_forms("messageStatus(id: $id)")[0], {"id": message_id}, 10)
        outcomes: dict[tuple[str, str], list[list[Any]]] = {}
        cases: list[tuple[str, dict[str, Any], int]] = [
            ("messageStatus(id: $id)", {"id": second}, 10),  # ends when final
            ("deliveryEvents(after: $after)", {"after": "0"}, 8),  # both messages' stored events
            ("messageStatus(id: $id)", {"id": 2_000_000_000}, 10),  # not found: an error, then complete
            ("deliveryEvents(after: $after)", {"after": "not-a-cursor"}, 10),
        ]
        for root, variables, wanted in cases:
            lane, strawberry = both_forms(root)
            assert takes_lane(lane, variables)
            assert not takes_lane(strawberry, variables)
            outcomes[root, str(variables)] = [
                await frames(socket, query, variables, wanted) for query in (lane, strawberry)
            ]
    for case, (by_lane, by_strawberry) in outcomes.items():
        assert by_lane == by_strawberry, case
    statuses = [payload["data"]["messageStatus"]["status"] for _, payload in outcomes[
        "messageStatus(id: $id)", str({"id": second})][0]]  # fmt: skip
    assert statuses[-1] == "delivered"
    replayed = outcomes["deliveryEvents(after: $after)", str({"after": "0"})][0]
    assert {payload["data"]["deliveryEvents"]["messageId"] for _, payload in replayed} == {first, second}
    for key in [("messageStatus(id: $id)", str({"id": 2_000_000_000})),
                ("deliveryEvents(after: $after)", str({"after": "not-a-cursor"}))]:  # fmt: skip
        [(kind, payload)] = outcomes[key][0]
        assert kind == "next"
        assert payload["data"] is None
        assert payload["errors"][0]["extensions"]["code"]
