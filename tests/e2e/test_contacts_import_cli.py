"""`weconn contacts import` as an operator runs it, beside a running server that then serves the contacts."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.server import ServerProcess, run_cli

CONTACTS = "/api/v1/integrations/contacts"


def listed(server: ServerProcess, **params: str) -> dict:
    response = httpx.get(
        f"{server.base_url}{CONTACTS}",
        params={"per_page": "100", **params},
        headers={"X-API-Key": server.demo_key},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.e2e
def test_import_a_csv_then_upsert_from_json_lines(
    server: ServerProcess, fresh_database_url: str | None, tmp_path: Path
) -> None:
    rows = 5000
    csv_file = tmp_path / "audience.csv"
    lines = ["name,email,phone,tags"]
    lines += [
        f"User {n},user{n}@example.com,+4074{n:07d},cli;{'even' if n % 2 == 0 else 'odd'}"
        for n in range(rows)
    ]
    lines.append("Broken,not-an-email,,cli")
    csv_file.write_text("\n".join(lines) + "\n")

    imported = run_cli(
        server.data_dir, fresh_database_url, "contacts", "import", str(csv_file), "--tenant", "demo"
    )
    assert imported.returncode == 1, imported.stderr  # one row failed
    assert f"{rows + 1} rows: {rows} created, 0 updated, 1 failed" in imported.stdout
    assert f"row {rows + 1} email:" in imported.stdout
    assert f"{rows + 1}/{rows + 1}" in imported.stderr  # the progress bar's last state
    assert listed(server, tag="cli")["meta"]["total"] == rows
    assert listed(server, tag="even")["meta"]["total"] == rows // 2

    update = tmp_path / "changes.jsonl"
    update.write_bytes(
        orjson.dumps({"email": "USER7@example.com", "name": "Seven", "tags": ["vip"]})
        + b"\n"
        + orjson.dumps({"phone": "+40 740 000 008", "metadata": {"plan": "gold"}})
        + b"\n"
    )
    upserted = run_cli(
        server.data_dir, fresh_database_url, "contacts", "import", str(update), "--tenant", "demo"
    )
    assert upserted.returncode == 0, upserted.stdout + upserted.stderr
    assert "2 rows: 0 created, 2 updated, 0 failed" in upserted.stdout
    [seven] = listed(server, tag="vip")["data"]
    assert (seven["name"], seven["email"], seven["tags"]) == (
        "Seven",
        "user7@example.com",
        ["cli", "odd", "vip"],
    )
    [eight] = listed(server, search="user8@")["data"]
    assert (eight["name"], eight["metadata"]) == ("User 8", {"plan": "gold"})


@pytest.mark.e2e
def test_refused_imports_exit_2_and_write_nothing(
    server: ServerProcess, fresh_database_url: str | None, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("email\nok@example.com\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("email\n")
    unknown_format = tmp_path / "contacts.txt"
    unknown_format.write_text("email\nok@example.com\n")
    cases = [
        ((str(good), "--tenant", "nope"), "no tenant 'nope'"),
        ((str(empty), "--tenant", "demo"), "no contact rows"),
        ((str(tmp_path / "missing.csv"), "--tenant", "demo"), "cannot read"),
        ((str(unknown_format), "--tenant", "demo"), "--format"),
        ((str(good), "--tenant", "demo", "--format", "jsonl"), "not JSON lines"),
    ]
    for args, message in cases:
        refused = run_cli(server.data_dir, fresh_database_url, "contacts", "import", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert message in refused.stderr, (args, refused.stderr)
    assert listed(server)["data"] == []
    accepted = run_cli(server.data_dir, fresh_database_url, "contacts", "import", str(unknown_format),
                       "--tenant", "demo", "--format", "csv")  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    assert [contact["email"] for contact in listed(server)["data"]] == ["ok@example.com"]
