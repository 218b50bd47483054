"""The contract's messaging cURL snippets, run by bash and curl against a real `weconn serve`.

Each snippet is read from docs/api-contract.txt (the single copy) and run as written, with only
`<API_KEY>` and the port replaced. Two snippets cannot run as written in any shell, because the
portal page flattened them onto one line: "Discover integration IDs" (`` \\ -H`` in the middle of
the line: a shell reads `\\ ` as an escaped space, so curl gets " -H" and the header as two more
URLs, and the request goes out without its key) and "List Templates" (the line starts with `#`,
so the whole line is a comment and nothing runs). For those, the test first shows what the text
as given does, then runs it with its line breaks put back (`restore_line_breaks`: whitespace
only, every other character as written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import contract
from tests.support.server import ServerProcess
from tests.support.snippets import (
    CurlRun,
    assert_accepted,
    assert_delivered,
    curl_snippet,
    restore_line_breaks,
    run_curl,
    wait_until_delivered,
)

API_KEY_HEADER = '-H "X-API-Key: <API_KEY>"'
DISCOVER = curl_snippet("cURL - Discover integration IDs", API_KEY_HEADER)
SEND_SMS = curl_snippet("cURL - Send SMS via API Key", "}'")
SEND_EMAIL = curl_snippet("cURL - Send Email via API Key", "}'")
SEND_WHATSAPP = curl_snippet("cURL - Send WhatsApp via API Key", "}'")
SEND_BATCH = curl_snippet("cURL - API integrare (trimitere batch)", "}'")
CHECK_STATUS = curl_snippet("cURL - Check Message Status", "[12345, 12346, 12347]}'")
LIST_TEMPLATES = curl_snippet("cURL - List Templates", '?channel=sms" \\ ' + API_KEY_HEADER)
SENDS = {"sms": SEND_SMS, "email": SEND_EMAIL, "whatsapp": SEND_WHATSAPP}
RECIPIENTS = {"sms": "+40740111222", "email": "client@example.com", "whatsapp": "+40740111222"}
DEMO_TEMPLATES = {"appointment_reminder": "sms", "delivery_update": "whatsapp"}


def only(run: CurlRun) -> Any:
    """The body of a snippet that makes exactly one request."""
    assert run.returncode == 0, run
    assert len(run.transfers) == 1, run
    return run.transfers[0]


def send(channel: str, server: ServerProcess, tmp_path: Path) -> dict[str, Any]:
    """Runs the contract's send snippet for `channel`; checks the 202 and its body."""
    transfer = only(run_curl(SENDS[channel], server, tmp_path))
    assert transfer.status == 202, transfer
    return assert_accepted(transfer.body, channel=channel, to=RECIPIENTS[channel])


@pytest.fixture
def server(module_server: ServerProcess) -> ServerProcess:
    """The snippets only make their own messages: one server serves the whole module."""
    return module_server


def test_snippets_are_cut_at_their_titles() -> None:
    """Each snippet is all the text between its title and the next title, nothing of either."""
    followed_by = [
        (DISCOVER, "\ncURL - Send SMS via API Key\n"),
        (SEND_SMS, "cURL - Send Email via API Key\n"),
        (SEND_EMAIL, "cURL - Send WhatsApp via API Key\n"),
        (SEND_WHATSAPP, "cURL - Initiate Voice Call\n"),
        (SEND_BATCH, "JavaScript - Contacts CRUD\n"),
        (CHECK_STATUS, "cURL - Configure Webhooks\n"),
    ]
    body = contract.text()
    for source, next_title in followed_by:
        assert source + next_title in body, source
    assert body.rstrip("\n").endswith("cURL - List Templates\n" + LIST_TEMPLATES)
    for source in (SEND_SMS, SEND_EMAIL, SEND_WHATSAPP, SEND_BATCH):
        assert source.startswith("curl -X POST http://localhost:8080/api/v1/integrations/messages/send")
    assert CHECK_STATUS.startswith("# Single message status\ncurl -X GET ")
    # The two snippets the portal flattened onto one line (see the module docstring).
    assert "\n" not in DISCOVER
    assert "\n" not in LIST_TEMPLATES
    assert LIST_TEMPLATES.startswith("# List all templates curl -X GET ")


@pytest.mark.e2e
def test_discover_snippet(server: ServerProcess, tmp_path: Path) -> None:
    # As given, `\ ` is an escaped space in every shell: curl gets the URLs `<url>`, ` -H` and
    # `X-API-Key: …`, so the onboarding request goes out without its key (401) and the two other
    # "URLs" are malformed. The snippet only works with its line break put back.
    as_given = run_curl(DISCOVER, server, tmp_path)
    assert as_given.returncode != 0, as_given
    first, *rest = as_given.transfers
    assert first.status == 401, as_given
    assert first.body["error"]["code"] == "unauthenticated"
    assert [transfer.status for transfer in rest] == [0, 0], as_given

    transfer = only(run_curl(restore_line_breaks(DISCOVER), server, tmp_path))
    assert transfer.status == 200, transfer
    data = transfer.body["data"]
    assert data["default_integration_id"] == 1
    [integration] = [item for item in data["integrations"] if item["id"] == 1]
    assert integration["is_default"] is True
    assert {"sms", "email", "whatsapp"} <= set(integration["channels"])
    assert {item["key"]: item["channel"] for item in data["templates"]} == DEMO_TEMPLATES
    assert set(data["examples"]) == {"sms", "email", "whatsapp"}

    # Each payload of `examples`, POSTed as it is (placeholders like "<name>" included).
    headers = {"X-API-Key": server.demo_key}
    accepted = []
    for channel, payload in data["examples"].items():
        response = httpx.post(
            f"{server.base_url}/api/v1/integrations/messages/send", headers=headers, json=payload
        )
        assert response.status_code == 202, (payload, response.status_code, response.text)
        accepted.append(assert_accepted(response.json(), channel=channel, to=payload["to"]))
    for item in accepted:
        assert_delivered(server, item["id"])


@pytest.mark.e2e
def test_send_sms_snippet(server: ServerProcess, tmp_path: Path) -> None:
    """`"sms_routing": "platform"` and no integration_id: the platform's own SMS route."""
    data = send("sms", server, tmp_path)
    assert data["integration_id"] is None
    assert data["route"] == "platform"
    view = assert_delivered(server, data["id"])
    assert view["template_key"] == "appointment_reminder"
    assert view["channel"] == "sms"


@pytest.mark.e2e
@pytest.mark.parametrize("channel", ["email", "whatsapp"])
def test_send_snippet_over_integration_1(channel: str, server: ServerProcess, tmp_path: Path) -> None:
    data = send(channel, server, tmp_path)
    assert data["integration_id"] == 1
    view = assert_delivered(server, data["id"])
    assert view["channel"] == channel


@pytest.mark.e2e
def test_send_batch_snippet(server: ServerProcess, tmp_path: Path) -> None:
    transfer = only(run_curl(SEND_BATCH, server, tmp_path))
    assert transfer.status == 202, transfer
    data = transfer.body["data"]
    assert (data["total"], data["accepted"], data["rejected"]) == (2, 2, 0), data
    assert data["channel"] == "whatsapp"
    assert data["integration_id"] == 1
    assert [result["index"] for result in data["results"]] == [0, 1]
    assert [result["to"] for result in data["results"]] == ["+40740111222", "+40740333444"]
    assert [result["status"] for result in data["results"]] == ["queued", "queued"]
    for result in data["results"]:
        assert isinstance(result["id"], int), result
        view = assert_delivered(server, result["id"])
        assert view["batch_id"] == data["batch_id"]


@pytest.mark.e2e
def test_check_status_snippet_as_written(server: ServerProcess, tmp_path: Path) -> None:
    """The ids 12345, 12346 and 12347 do not exist on a fresh server."""
    run = run_curl(CHECK_STATUS, server, tmp_path)
    assert run.returncode == 0, run
    single, batch = run.transfers
    assert single.status == 404, run
    assert single.body["error"]["code"] == "not_found", run
    assert batch.status == 200, run
    assert batch.body == {"data": [{"id": id_, "status": "not_found"} for id_ in (12345, 12346, 12347)]}, run


@pytest.mark.e2e
def test_check_status_snippet_with_real_ids(server: ServerProcess, tmp_path: Path) -> None:
    """The same snippet with its ids replaced by those of messages the send snippets made."""
    channels = ("sms", "email", "whatsapp")
    ids = [send(channel, server, tmp_path)["id"] for channel in channels]
    for message_id in ids:
        wait_until_delivered(server, message_id)
    source = CHECK_STATUS
    for placeholder, message_id in zip(("12345", "12346", "12347"), ids, strict=True):
        source = source.replace(placeholder, str(message_id))
    run = run_curl(source, server, tmp_path)
    assert run.returncode == 0, run
    single, batch = run.transfers
    assert single.status == 200, run
    assert single.body["data"]["id"] == ids[0]
    assert single.body["data"]["status"] == "delivered"
    assert [event["status"] for event in single.body["data"]["events"]] == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]
    assert batch.status == 200, run
    entries = batch.body["data"]
    assert [entry["id"] for entry in entries] == ids
    assert [entry["status"] for entry in entries] == ["delivered"] * 3
    assert [entry["channel"] for entry in entries] == list(channels)
    assert all(entry["provider_message_id"] for entry in entries), entries


@pytest.mark.e2e
def test_list_templates_snippet(server: ServerProcess, tmp_path: Path) -> None:
    # As given, the one line starts with `#`: the whole snippet is a shell comment, nothing runs.
    as_given = run_curl(LIST_TEMPLATES, server, tmp_path)
    assert as_given.returncode == 0, as_given
    assert as_given.transfers == [], as_given
    assert as_given.stdout == "", as_given

    run = run_curl(restore_line_breaks(LIST_TEMPLATES), server, tmp_path)
    assert run.returncode == 0, run
    every, sms = run.transfers
    assert every.status == 200, run
    assert {item["key"]: item["channel"] for item in every.body["data"]} == DEMO_TEMPLATES
    assert sms.status == 200, run
    assert [item["key"] for item in sms.body["data"]] == ["appointment_reminder"]
    assert sms.body["data"][0]["variables"] == ["name", "date"]
