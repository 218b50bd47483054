"""The contract's JavaScript "Contacts CRUD" snippet, run by node against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

SNIPPETS = Path(__file__).parent / "snippets"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_291b6f7de6c210ce.txt"
# What the test adds after the snippet, to see what the snippet's own requests got back.
REPORT = "\nconsole.log(JSON.stringify({status: contacts.status, body: await contacts.json()}));\n"


def run_snippet(name: str, server: ServerProcess, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is required (tools/ensure-system-deps.sh installs it)"
    source = (SNIPPETS / name).read_text()
    source = source.replace("<API_KEY>", server.demo_key).replace(
        "localhost:8080", f"127.0.0.1:{server.port}"
    )
    script = tmp_path / name
    script.write_text(source + REPORT)
    return subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_contacts_crud_snippet_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    result = run_snippet("contacts_crud.mjs", server, tmp_path)
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
    again = run_snippet("contacts_crud.mjs", server, tmp_path)
    assert again.returncode == 0
    recount = httpx.get(f"{server.base_url}/api/v1/integrations/contacts", headers=headers).json()
    assert recount["meta"]["total"] == listed["meta"]["total"]


def test_the_snippet_is_the_contracts_text() -> None:
    """The committed copy is the portal's text to the letter, wherever the seed is beside the checkout."""
    if not SEED.exists():
        pytest.skip(f"the contract seed is not beside this checkout ({SEED})")
    snippet = (SNIPPETS / "contacts_crud.mjs").read_text().strip()
    assert snippet in SEED.read_text()
