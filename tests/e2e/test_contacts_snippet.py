"""The contract's JavaScript "Contacts CRUD" snippet, run by node against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import contract
from tests.support.server import ServerProcess

CONTACTS_CRUD = contract.snippet("// List contacts", "// and combined into the stored name field.")
# What the test adds after the snippet, to see what the snippet's own requests got back.
REPORT = "\nconsole.log(JSON.stringify({status: contacts.status, body: await contacts.json()}));\n"


def run_snippet(source: str, server: ServerProcess, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Runs a JavaScript snippet as an ES module, with only the key and the port filled in."""
    node = shutil.which("node")
    assert node, "node is required (tools/ensure-system-deps.sh installs it)"
    source = source.replace("<API_KEY>", server.demo_key).replace(
        "localhost:8080", f"localhost:{server.port}"
    )
    script = tmp_path / "snippet.mjs"
    script.write_text(source + REPORT)
    return subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_contacts_crud_snippet_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    result = run_snippet(CONTACTS_CRUD, server, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["body"]["meta"]["per_page"] == 50
    headers = {"X-API-Key": server.demo_key}
    listed = httpx.get(f"{server.base_url}/api/v1/integrations/contacts", headers=headers).json()
    [maria] = [contact for contact in listed["data"] if contact["email"] == "maria@example.com"]
    assert maria["name"] == "Maria Ionescu"
    assert maria["phone"] == "+40740111222"
    assert maria["tags"] == ["vip", "newsletter"]
    assert maria["metadata"] == {"source": "crm"}
    again = run_snippet(CONTACTS_CRUD, server, tmp_path)
    assert again.returncode == 0
    recount = httpx.get(f"{server.base_url}/api/v1/integrations/contacts", headers=headers).json()
    assert recount["meta"]["total"] == listed["meta"]["total"]
