"""The voice call contract, each case over REST and over GraphQL, on the service with the SSRF
guard on: what initiating answers, scopes, other tenants' calls, bad input, idempotency."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from gateway.db import Database
from tests.support.call_twins import GraphQLCalls, RestCalls
from tests.support.messaging import sending_tenant
from tests.support.tenants import TenantKeys

Api = RestCalls | GraphQLCalls
CALL = {"to": "+40740111222", "message": "Hello, this is a reminder for your appointment tomorrow.",
        "webhook_url": "https://example.com/call-status"}  # fmt: skip


@pytest.fixture(params=["rest", "graphql"])
def calls_api(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Api:
    return RestCalls(client) if request.param == "rest" else GraphQLCalls(client)


@pytest.fixture
async def caller(db: Database) -> TenantKeys:
    tenant, _ = await sending_tenant(db)
    return tenant


async def test_initiating_answers_the_queued_call_which_then_completes(
    calls_api: Api, caller: TenantKeys
) -> None:
    accepted = await calls_api.initiate(caller.headers(), CALL | {"voice": "alice", "language": "en-US"})
    assert accepted.ok, accepted
    call = accepted.data
    assert (call["status"], call["to"], call["webhook_url"]) == ("queued", CALL["to"], CALL["webhook_url"])
    assert (call["voice"], call["language"], call["provider"]) == ("alice", "en-US", "sandbox")
    deadline = time.monotonic() + 20
    while (view := (await calls_api.get(caller.headers(), call["id"])).data)["status"] != "completed":
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.05)
    assert [event["status"] for event in view["events"]] == [
        "queued", "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    listed = await calls_api.list(caller.headers(), per_page=5)
    assert listed.data["items"][0]["id"] == call["id"]
    assert listed.data["total"] == 1


async def test_scopes_and_other_tenants(calls_api: Api, caller: TenantKeys, db: Database) -> None:
    refused = await calls_api.initiate(caller.headers(caller.read), CALL)
    assert refused.code == "forbidden"
    call = (await calls_api.initiate(caller.headers(caller.send), CALL)).data
    other, _ = await sending_tenant(db)
    assert (await calls_api.get(other.headers(), call["id"])).code == "not_found"
    assert (await calls_api.get(caller.headers(caller.read), call["id"])).ok


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "12"}, "to"),
        ({"message": ""}, "message"),
        ({"message": "x" * 3001}, "message"),
        ({"webhook_url": "http://127.0.0.1:8080/status"}, "webhook_url"),
        ({"webhook_url": "http://169.254.169.254/latest/meta-data/"}, "webhook_url"),
        ({"webhook_url": "http://0x7f000001/status"}, "webhook_url"),
        ({"webhook_url": "file:///etc/passwd"}, "webhook_url"),
        ({"language": "english please"}, "language"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    calls_api: Api, caller: TenantKeys, change: dict[str, str], field: str
) -> None:
    refused = await calls_api.initiate(caller.headers(), CALL | change)
    assert refused.code == "validation_error", refused
    assert field in refused.fields, refused


async def test_an_integration_without_voice_or_of_another_tenant(calls_api: Api, caller: TenantKeys) -> None:
    assert (await calls_api.initiate(caller.headers(), CALL | {"integration_id": 999999})).code == "not_found"


async def test_idempotent_initiation(client: httpx.AsyncClient, caller: TenantKeys) -> None:
    headers = caller.headers() | {"Idempotency-Key": "call-once"}
    first = await client.post("/api/v1/integrations/calls/initiate", json=CALL, headers=headers)
    again = await client.post("/api/v1/integrations/calls/initiate", json=CALL, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    changed = await client.post("/api/v1/integrations/calls/initiate", json=CALL | {"to": "+40740111333"},
                                headers=headers)  # fmt: skip
    assert changed.status_code == 422
