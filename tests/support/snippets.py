"""The contract's cURL snippets, run by bash and curl against a real server, and what they got back.

A snippet is the contract's text between its title and the given end, with only `<API_KEY>` and
the port filled in. To see each transfer's HTTP status without touching the snippet, curl reads
a `.curlrc` (through `CURL_HOME`) that only adds `--silent --show-error` and a `--write-out`
marker after every transfer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support import contract
from tests.support.server import ServerProcess

MARKER = re.compile(r"\n?@@curl-status (\d{3})@@\n")
CURLRC = 'silent\nshow-error\nwrite-out = "\\n@@curl-status %{http_code}@@\\n"\n'
DELIVERY_STEPS = ["queued", "sending", "sent", "delivered"]


def curl_snippet(title: str, end: str) -> str:
    """The snippet under `title` (the title line itself left out), through the first `end` after it."""
    text = contract.snippet(title, end).removeprefix(title).removeprefix("\n")
    assert "<API_KEY>" in text, text
    assert "localhost:8080" in text, text
    return text


def restore_line_breaks(source: str) -> str:
    """The portal page flattened some snippets onto one line; this puts the line breaks back.

    Only whitespace changes: `` \\ `` (meant as a line continuation, but in every shell an
    escaped space) becomes a backslash-newline, and a `# comment` runs to the end of its own line
    again, before the next `curl` command.
    """
    text = source.replace(" \\ ", " \\\n")
    text = re.sub(r" (?=# )", "\n", text)
    text = re.sub(r"^(# .*?) (?=curl )", r"\1\n", text, flags=re.MULTILINE)
    assert text.split() == source.split(), "restoring line breaks must change whitespace only"
    return text


@dataclass(frozen=True)
class Transfer:
    status: int  # 0 when curl made no HTTP exchange (a malformed URL, say)
    body: Any  # the decoded JSON body, or None when there was none


@dataclass(frozen=True)
class CurlRun:
    script: str
    returncode: int
    transfers: list[Transfer]
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {self.script}\nrc={self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run_curl(source: str, server: ServerProcess, tmp_path: Path) -> CurlRun:
    """Runs `source` with `bash -c`, with only the API key and the port replaced."""
    assert shutil.which("curl"), "curl is required to run the contract's cURL snippets"
    bash = shutil.which("bash")
    assert bash, "bash is required to run the contract's cURL snippets"
    script = source.replace("<API_KEY>", server.demo_key).replace(
        "localhost:8080", f"localhost:{server.port}"
    )
    curl_home = tmp_path / "curl-home"
    curl_home.mkdir(exist_ok=True)
    (curl_home / ".curlrc").write_text(CURLRC)
    result = subprocess.run(
        [bash, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "CURL_HOME": str(curl_home), "HOME": str(curl_home)},
    )
    return CurlRun(script, result.returncode, _transfers(result.stdout), result.stdout, result.stderr)


def _transfers(stdout: str) -> list[Transfer]:
    parts = MARKER.split(stdout)
    # [body, status, body, status, ..., trailing text]
    assert not parts[-1].strip(), f"output after the last transfer: {parts[-1]!r}"
    transfers = []
    for body, status in zip(parts[0:-1:2], parts[1:-1:2], strict=True):
        transfers.append(Transfer(int(status), orjson.loads(body) if body.strip() else None))
    return transfers


def message_status(server: ServerProcess, message_id: int) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/api/v1/integrations/messages/{message_id}/status",
        headers={"X-API-Key": server.demo_key},
        timeout=5,
    )


def wait_until_delivered(server: ServerProcess, message_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """Polls the status endpoint until the message is `delivered`; returns its view."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = message_status(server, message_id)
        assert response.status_code == 200, response.text
        view = response.json()["data"]
        if view["status"] == "delivered":
            return view
        assert view["status"] in DELIVERY_STEPS, view
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} not delivered within {timeout} s: {view}")


def assert_delivered(server: ServerProcess, message_id: int) -> dict[str, Any]:
    """Delivered, through queued -> sending -> sent -> delivered in time order, with a provider id."""
    view = wait_until_delivered(server, message_id)
    assert view["id"] == message_id
    assert view["provider_message_id"], view
    assert [event["status"] for event in view["events"]] == DELIVERY_STEPS, view["events"]
    times = [datetime.fromisoformat(event["occurred_at"]) for event in view["events"]]
    assert times == sorted(times), view["events"]
    assert all(moment.tzinfo is not None for moment in times), view["events"]
    sent = view["events"][2]
    assert sent["detail"].get("provider_message_id") == view["provider_message_id"], sent
    return view


def assert_accepted(body: Any, *, channel: str, to: str) -> dict[str, Any]:
    """A send's 202 body: `{"data": {"id", "status": "queued", "channel", "to", ...}}`."""
    assert isinstance(body, dict), body
    assert set(body) == {"data"}, body
    data = body["data"]
    assert isinstance(data, dict), body
    for key in ("id", "status", "channel", "to", "integration_id", "created_at"):
        assert key in data, (key, body)
    assert isinstance(data["id"], int), body
    assert not isinstance(data["id"], bool), body
    assert data["status"] == "queued", body
    assert data["channel"] == channel, body
    assert data["to"] == to, body
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None, body
    return data
