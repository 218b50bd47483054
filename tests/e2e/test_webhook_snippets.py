"""The contract's "Configure Webhooks" cURL snippet (register, events catalog, list), run by bash and
curl as written against a real `weconn serve`, with only `<API_KEY>` and the port replaced."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.support import contract
from tests.support.server import ServerProcess
from tests.support.snippets import curl_snippet, run_curl

LAST_LINE = (
    "# List webhooks\ncurl -X GET http://localhost:8080/api/v1/integrations/webhooks \\\n"
    '-H "X-API-Key: <API_KEY>"'
)
CONFIGURE = curl_snippet("cURL - Configure Webhooks", LAST_LINE)


def test_the_snippet_is_cut_at_its_titles() -> None:
    assert CONFIGURE.startswith("# Register a webhook endpoint\ncurl -X POST ")
    assert CONFIGURE + "cURL - List Templates" in contract.text()
    assert CONFIGURE.count("curl ") == 3


@pytest.mark.e2e
def test_configure_webhooks_snippet(server: ServerProcess, tmp_path: Path) -> None:
    run = run_curl(CONFIGURE, server, tmp_path)
    assert run.returncode == 0, run
    register, catalog, listing = run.transfers

    assert register.status == 201, run
    hook = register.body["data"]
    assert hook["url"] == "https://example.com/webhooks/weconn"
    assert hook["delivery_profile"] == "sms_only"
    assert hook["description"] == "Production webhook"
    assert hook["status"] == "enabled"
    assert "message.delivered" in hook["events"]
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) == 32

    assert catalog.status == 200, run
    names = {event["name"] for event in catalog.body["data"]["events"]}
    assert {"message.delivered", "call.completed", "campaign.started", "contact.opted_out"} <= names
    profiles = {profile["name"] for profile in catalog.body["data"]["profiles"]}
    assert "sms_only" in profiles

    assert listing.status == 200, run
    [listed] = listing.body["data"]
    assert listed["id"] == hook["id"]
    assert "secret" not in listed
    assert listing.body["meta"]["total"] == 1
