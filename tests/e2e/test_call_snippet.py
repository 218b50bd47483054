"""The contract's "Initiate Voice Call" cURL snippet, run by bash and curl against a real
`weconn serve` (sandbox voice): 202 with the call's id, then the call rings, is answered and
completes. Its `webhook_url` (example.com) is not ours to receive: its callbacks are retried there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.snippets import curl_snippet, run_curl

INITIATE_CALL = curl_snippet("cURL - Initiate Voice Call", "}'")
STEPS = ["queued", "initiated", "ringing", "in-progress", "completed"]


def wait_for_completed(server: ServerProcess, call_id: int) -> dict[str, Any]:
    url = f"{server.base_url}/api/v1/integrations/calls/{call_id}"
    deadline = time.monotonic() + 30
    while True:
        view = httpx.get(url, headers={"X-API-Key": server.demo_key}, timeout=10).json()["data"]
        if view["status"] == "completed":
            return view  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, view
        time.sleep(0.1)


@pytest.mark.e2e
def test_initiate_voice_call_snippet_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    assert '"webhook_url": "https://example.com/call-status"' in INITIATE_CALL
    run = run_curl(INITIATE_CALL, server, tmp_path)
    assert run.returncode == 0, run
    [transfer] = run.transfers
    assert transfer.status == 202, transfer
    data = transfer.body["data"]
    assert data["status"] == "queued"
    assert data["to"] == "+40740111222"
    assert data["message"] == "Hello, this is a reminder for your appointment tomorrow."
    assert data["webhook_url"] == "https://example.com/call-status"
    view = wait_for_completed(server, data["id"])
    assert [event["status"] for event in view["events"]] == STEPS
