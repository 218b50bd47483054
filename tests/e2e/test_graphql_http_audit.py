"""GraphQL over HTTP conformance: the `graphql-http` npm package's server audit, run by node against
`weconn serve`. Every MUST has to pass; SHOULD and MAY results are printed (and warned about)."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import httpx
import pytest

from schema.view import negotiate_media_type
from tests.support.server import ServerProcess

JS_DIR = Path(__file__).resolve().parents[1] / "js"
AUDIT_SCRIPT = JS_DIR / "audit-graphql-http.mjs"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def run_audit(url: str) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node, "node is required (tools/ensure-system-deps.sh installs it)"
    if not (JS_DIR / "node_modules" / "graphql-http").is_dir():
        pytest.fail("tests/js/node_modules is missing: `make test` installs it (npm ci --prefix tests/js)")
    result = subprocess.run(
        [node, str(AUDIT_SCRIPT), url], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    report: list[dict[str, object]] = json.loads(result.stdout)
    return report


def describe(entry: dict[str, object]) -> str:
    line = f"{entry['status']:>6}  {entry['id']}  {entry['name']}"
    if entry["status"] != "ok":
        line += f"\n        {entry['reason']}; got {json.dumps(entry['response'])[:300]}"
    return line


@pytest.mark.e2e
def test_graphql_endpoint_passes_every_must_of_the_graphql_http_audit(server: ServerProcess) -> None:
    report = run_audit(f"{server.base_url}/graphql")
    print("graphql-http audit of /graphql:")
    for entry in report:
        print(describe(entry))
    musts = [entry for entry in report if str(entry["name"]).startswith("MUST")]
    assert len(musts) >= 13, "graphql-http 1.23.1 has 13 MUST audits; fewer ran"
    failed = [entry for entry in musts if entry["status"] != "ok"]
    assert not failed, "MUST audits failed:\n" + "\n".join(describe(entry) for entry in failed)
    for entry in report:
        if entry["status"] != "ok":
            warnings.warn(f"graphql-http audit: {describe(entry)}", UserWarning, stacklevel=1)


@pytest.mark.e2e
def test_graphql_response_json_is_served_when_asked(server: ServerProcess) -> None:
    url = f"{server.base_url}/graphql"
    asked = {"Accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"}
    ok = httpx.post(url, json={"query": "{ __typename }"}, headers=asked)
    assert ok.status_code == 200
    assert ok.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert ok.json() == {"data": {"__typename": "Query"}}
    # A request error (nothing executed): 400 and no `data` entry, with the error's stable code.
    invalid = httpx.post(url, json={"query": "{ noSuchField }"}, headers=asked)
    assert invalid.status_code == 400
    assert "data" not in invalid.json()
    assert invalid.json()["errors"][0]["extensions"]["code"] == "invalid_query"
    # A field error is a GraphQL response like any other: 200, with `data`.
    field_error = httpx.post(url, json={"query": "{ me { kind } }"}, headers=asked)
    assert field_error.status_code == 200
    assert field_error.json()["data"] is None
    assert field_error.json()["errors"][0]["extensions"]["code"] == "unauthenticated"
    # Plain application/json keeps 200 for every well-formed request, as before.
    legacy = httpx.post(url, json={"query": "{ noSuchField }"}, headers={"Accept": "application/json"})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
        ("Application/GraphQL-Response+JSON ; charset=utf-8, */*;q=0.1", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=nonsense, application/json", "application/json"),
    ],
)
def test_accept_header_negotiation(accept: str | None, expected: str) -> None:
    assert negotiate_media_type(accept) == expected
