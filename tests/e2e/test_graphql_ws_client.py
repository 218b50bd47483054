"""A subscriber built on the `graphql-ws` npm package (pinned in tests/js) receives live events."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

SCRIPT = Path(__file__).resolve().parents[1] / "js" / "subscribe-graphql-ws.mjs"
MESSAGES = 5
STEPS = ["queued", "sending", "sent", "delivered"]


@pytest.mark.e2e
def test_a_graphql_ws_client_receives_delivery_events(server: ServerProcess) -> None:
    node = shutil.which("node")
    assert node, "node is required (tools/ensure-system-deps.sh installs it)"
    assert (SCRIPT.parent / "node_modules" / "graphql-ws").exists(), "make test runs npm ci in tests/js"
    url = f"ws://127.0.0.1:{server.port}/graphql"
    command = [node, str(SCRIPT), url, server.demo_key, str(MESSAGES * len(STEPS))]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as client:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "READY"
        time.sleep(0.5)  # the subscribe message reaches the server
        body = {
            "channel": "sms",
            "body": "npm",
            "recipients": [{"to": f"+4073{n:07d}"} for n in range(MESSAGES)],
        }
        sent = httpx.post(f"{server.base_url}/api/v1/integrations/messages/send-batch", json=body,
                          headers={"X-API-Key": server.demo_key}, timeout=30)  # fmt: skip
        assert sent.status_code == 202, sent.text
        output, errors = client.communicate(timeout=60)
    assert client.returncode == 0, errors
    events = [json.loads(line)["data"]["deliveryEvents"] for line in output.splitlines() if line.strip()]
    per_message: dict[int, list[str]] = defaultdict(list)
    for event in events:
        per_message[event["messageId"]].append(event["status"])
    assert set(per_message) == {result["id"] for result in sent.json()["data"]["results"]}
    assert all(statuses == STEPS for statuses in per_message.values()), per_message
