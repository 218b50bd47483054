"""The contract's Python "Campaign Management" snippet, run by Python against a real server, and a
schedule that survives a restart of the whole service."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import contract
from tests.support.server import ServerProcess, start_server

CAMPAIGN_MANAGEMENT = contract.snippet("import requests", "headers=headers)")
CONTRACT_SCHEDULE = "2026-04-01T10:00:00Z"  # in the past by now: a few seconds ahead instead
REPORT = (
    "\nimport json\n"
    "print(json.dumps({'created': campaign.status_code, 'campaign': campaign.json(),"
    " 'status_code': status.status_code, 'status': status.json()}))\n"
)
API = "/api/v1/integrations"


def iso_in(seconds: float) -> tuple[datetime, str]:
    moment = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return moment, moment.isoformat().replace("+00:00", "Z")


def run_snippet(server: ServerProcess, tmp_path: Path, scheduled_at: str) -> dict[str, Any]:
    assert CONTRACT_SCHEDULE in CAMPAIGN_MANAGEMENT
    source = (
        CAMPAIGN_MANAGEMENT.replace("<API_KEY>", server.demo_key)
        .replace("localhost:8080", f"localhost:{server.port}")
        .replace(CONTRACT_SCHEDULE, scheduled_at)
    )
    script = tmp_path / "campaign_snippet.py"
    script.write_text(source + REPORT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def add_contacts(server: ServerProcess, count: int, key: str) -> None:
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}) as client:
        for n in range(count):
            body = {"name": f"Reader {n}", "email": f"reader-{n}@example.com"}
            assert client.post(f"{API}/contacts", json=body).status_code == 201
        assert (
            client.post(f"{API}/contacts", json={"name": "Phone only", "phone": "+40740999888"}).status_code
            == 201
        )


def watch(
    server: ServerProcess, key: str, campaign_id: int, seconds: float = 60
) -> tuple[list[str], dict[str, Any]]:
    """The statuses seen, in order, until `completed` (or the time runs out), and the last view."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}) as client:
        while True:
            view = client.get(f"{API}/campaigns/{campaign_id}/status").json()["data"]
            if not seen or seen[-1] != view["status"]:
                seen.append(view["status"])
            if (view["status"] == "completed" and view["stats"]["sent"] == 0) or time.monotonic() > deadline:
                return seen, view
            time.sleep(0.02)


@pytest.mark.e2e
def test_campaign_management_snippet_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    add_contacts(server, 150, server.demo_key)
    due, scheduled_at = iso_in(3)
    report = run_snippet(server, tmp_path, scheduled_at)
    assert report["created"] == 201
    assert report["campaign"]["data"]["status"] == "draft"
    assert report["status_code"] == 200
    assert report["status"]["data"]["status"] == "scheduled"
    assert report["status"]["data"]["scheduled_at"] == scheduled_at
    seen, view = watch(server, server.demo_key, report["campaign"]["data"]["id"])
    assert seen == ["scheduled", "sending", "completed"], (seen, "".join(server.output)[-4000:])
    stats = view["stats"]
    assert stats["total"] == 151
    assert stats["skipped"] == 1  # the contact without an email
    assert stats["delivered"] == 150
    assert sum(value for name, value in stats.items() if name != "total") == stats["total"]
    assert due <= datetime.fromisoformat(view["started_at"]) <= due + timedelta(seconds=3)
    assert view["progress"] == 100.0


@pytest.mark.e2e
def test_a_schedule_survives_a_restart(tmp_path: Path, fresh_database_url: str | None) -> None:
    data_dir = tmp_path / "data"
    booting = time.monotonic()
    first = start_server(data_dir, fresh_database_url)
    # The schedule's lead must outlast a stop and a start: on a loaded machine a start takes longer.
    lead_seconds = max(6, round(4 * (time.monotonic() - booting)) + 3)
    key = first.demo_key
    try:
        add_contacts(first, 20, key)
        with httpx.Client(base_url=first.base_url, headers={"X-API-Key": key}) as client:
            body = {"name": "Restart", "channel": "email", "message_template": "Hi {{ name }}"}
            created = client.post(f"{API}/campaigns", json=body).json()["data"]
            due, scheduled_at = iso_in(lead_seconds)
            sent = client.post(f"{API}/campaigns/{created['id']}/send", json={"scheduled_at": scheduled_at})
            assert sent.status_code == 202
    finally:
        first.stop()
    time.sleep(1)
    second = start_server(data_dir, fresh_database_url)
    try:
        assert datetime.now(UTC) < due, "the restart took longer than the schedule's lead"
        seen, view = watch(second, key, created["id"])
        assert seen[0] == "scheduled"
        assert seen[-1] == "completed", seen
        assert due <= datetime.fromisoformat(view["started_at"]) <= due + timedelta(seconds=3)
        assert view["stats"]["total"] == 21
        assert view["stats"]["delivered"] == 20
        with httpx.Client(base_url=second.base_url, headers={"X-API-Key": key}) as client:
            listed = client.get(f"{API}/campaigns").json()
        assert [item["id"] for item in listed["data"]] == [created["id"]]
    finally:
        second.stop()
