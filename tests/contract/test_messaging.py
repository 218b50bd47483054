"""Sending over REST, in process: acceptance, validation, batches, status reads and idempotency.

These tests look at what a send answers and stores, not at delivery (the e2e snippet tests
follow messages to `delivered` on a real server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.db import Database
from gateway.tables import Integration, Message, Template
from resolvers import messages
from resolvers.bootstrap import DEMO_TEMPLATES
from tests.support.tenants import TenantKeys

API = "/api/v1/integrations/messages"
SANDBOX = {"provider": "sandbox"}
TEMPLATES = (
    *DEMO_TEMPLATES,
    Template(
        tenant_id=0,
        key="welcome",
        channel="email",
        subject="Welcome, {{ name }}",
        body="<p>Hello {{ name }}</p>",
        variables=["name"],
    ),
)
ADDRESSES = {"sms": "+40740111222", "email": "client@example.com", "whatsapp": "+40740333444"}
SMS = {
    "channel": "sms",
    "to": "+40740111222",
    "template_key": "appointment_reminder",
    "variables": {"name": "Andrei", "date": "2026-03-12 16:30"},
}


@dataclass(frozen=True)
class Sender:
    """A tenant ready to send: a default integration for sms, email and whatsapp, and templates."""

    keys: TenantKeys
    integration_id: int  # the default: sms, email and whatsapp through the sandbox
    sms_only_id: int  # serves sms only

    @property
    def headers(self) -> dict[str, str]:
        return self.keys.headers()


async def add_integration(db: Database, tenant_id: int, channels: list[str], *, is_default: bool) -> int:
    async with db.sessions() as session:
        integration = Integration(
            tenant_id=tenant_id,
            name="Sandbox " + "+".join(channels),
            channels={channel: dict(SANDBOX) for channel in channels},
            is_default=is_default,
        )
        session.add(integration)
        await session.commit()
        assert integration.id is not None
        return integration.id


async def ready_to_send(db: Database, keys: TenantKeys) -> Sender:
    default = await add_integration(db, keys.id, ["sms", "email", "whatsapp"], is_default=True)
    sms_only = await add_integration(db, keys.id, ["sms"], is_default=False)
    async with db.sessions() as session:
        for template in TEMPLATES:
            session.add(Template.model_validate(template.model_dump(exclude={"id"}) | {"tenant_id": keys.id}))
        await session.commit()
    return Sender(keys=keys, integration_id=default, sms_only_id=sms_only)


@pytest.fixture
async def sender(db: Database, tenant: TenantKeys) -> Sender:
    return await ready_to_send(db, tenant)


@pytest.fixture
async def other_sender(db: Database, other_tenant: TenantKeys) -> Sender:
    return await ready_to_send(db, other_tenant)


async def send(client: httpx.AsyncClient, sender: Sender, body: Any, **headers: str) -> httpx.Response:
    return await client.post(f"{API}/send", json=body, headers=sender.headers | headers)


async def send_batch(client: httpx.AsyncClient, sender: Sender, body: Any) -> httpx.Response:
    return await client.post(f"{API}/send-batch", json=body, headers=sender.headers)


async def batch_status(client: httpx.AsyncClient, sender: Sender, ids: list[int]) -> httpx.Response:
    return await client.post(f"{API}/batch-status", json={"message_ids": ids}, headers=sender.headers)


async def message_count(db: Database, tenant_id: int) -> int:
    query = select(func.count()).select_from(Message).where(Message.tenant_id == tenant_id)  # type: ignore[arg-type]
    async with db.reading() as connection:
        return int((await connection.execute(query)).scalar_one())


def payload(channel: str, **extra: Any) -> dict[str, Any]:
    """A valid send of `channel` over the default integration, with its template."""
    content: dict[str, Any] = {
        "sms": {"template_key": "appointment_reminder", "variables": {"name": "Ana", "date": "today"}},
        "email": {"template_key": "welcome", "variables": {"name": "Maria"}},
        "whatsapp": {"template_key": "delivery_update", "variables": {"name": "Ana", "order": "A12"}},
    }[channel]
    return {"channel": channel, "to": ADDRESSES[channel], **content, **extra}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


# --- acceptance -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "email", "whatsapp"])
@pytest.mark.parametrize("named", [False, True], ids=["default-integration", "integration_id"])
async def test_send_is_accepted(client: httpx.AsyncClient, sender: Sender, channel: str, named: bool) -> None:
    body = payload(channel, **({"integration_id": sender.integration_id} if named else {}))
    response = await send(client, sender, body)
    assert response.status_code == 202, response.text
    assert "Idempotent-Replayed" not in response.headers
    data = response.json()["data"]
    assert isinstance(data["id"], int)
    assert data["status"] == "queued"
    assert data["channel"] == channel
    assert data["to"] == ADDRESSES[channel]
    assert data["integration_id"] == sender.integration_id
    assert data["route"] == "integration"
    status = await client.get(f"{API}/{data['id']}/status", headers=sender.headers)
    assert status.status_code == 200, status.text
    assert status.json()["data"]["events"][0]["status"] == "queued"


async def test_concurrent_sends_of_two_tenants_each_get_their_own_message(
    client: httpx.AsyncClient, sender: Sender, other_sender: Sender
) -> None:
    """Sends arriving together share a transaction (resolvers/send_inserts.py); each still gets its
    own message, of its own tenant, channel and integration, with its `queued` event."""
    asks = [(who, channel) for who in (sender, other_sender) for channel in ("sms", "email", "whatsapp") * 4]

    answers = await asyncio.gather(*(send(client, who, payload(channel)) for who, channel in asks))

    assert [answer.status_code for answer in answers] == [202] * len(asks), [a.text for a in answers]
    ids = [answer.json()["data"]["id"] for answer in answers]
    assert len(set(ids)) == len(asks)
    for (who, channel), message_id in zip(asks, ids, strict=True):
        status = await client.get(f"{API}/{message_id}/status", headers=who.headers)
        assert status.status_code == 200, status.text
        data = status.json()["data"]
        assert (data["channel"], data["to"]) == (channel, ADDRESSES[channel])
        assert data["events"][0]["status"] == "queued"
        other = other_sender if who is sender else sender
        assert (await client.get(f"{API}/{message_id}/status", headers=other.headers)).status_code == 404


async def test_sms_over_the_platform_route(client: httpx.AsyncClient, sender: Sender) -> None:
    response = await send(client, sender, {**SMS, "sms_routing": "platform"})
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["route"], data["integration_id"]) == ("platform", None)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "variables", "missing"),
    [
        ("sms", {"name": "Ana"}, ["date"]),
        ("whatsapp", {"order": "A12"}, ["name"]),
        ("email", {}, ["name"]),
    ],
)
async def test_missing_template_variable(
    client: httpx.AsyncClient, sender: Sender, channel: str, variables: dict[str, str], missing: list[str]
) -> None:
    response = await send(client, sender, payload(channel, variables=variables))
    error = assert_error(response, 422, "validation_error")
    assert sorted(error["fields"]) == [f"variables.{name}" for name in missing], error


async def test_unknown_integration_id(client: httpx.AsyncClient, sender: Sender) -> None:
    response = await send(client, sender, payload("sms", integration_id=987_654))
    assert_error(response, 404, "not_found")


async def test_another_tenants_integration_id(
    client: httpx.AsyncClient, db: Database, sender: Sender, other_sender: Sender
) -> None:
    response = await send(client, sender, payload("sms", integration_id=other_sender.integration_id))
    assert_error(response, 404, "not_found")
    assert await message_count(db, sender.keys.id) == 0


async def test_channel_the_integration_does_not_serve(client: httpx.AsyncClient, sender: Sender) -> None:
    response = await send(client, sender, payload("email", integration_id=sender.sms_only_id))
    error = assert_error(response, 422, "validation_error")
    assert "channel" in error["fields"], error


@pytest.mark.parametrize(
    ("channel", "to"),
    [
        ("sms", "not a number"),
        ("sms", "client@example.com"),
        ("whatsapp", "12"),
        ("email", "not-an-email"),
        ("email", "+40740111222"),
    ],
)
async def test_invalid_recipient(client: httpx.AsyncClient, sender: Sender, channel: str, to: str) -> None:
    response = await send(client, sender, payload(channel, to=to))
    error = assert_error(response, 422, "validation_error")
    assert "to" in error["fields"], error


async def test_neither_template_nor_body(client: httpx.AsyncClient, sender: Sender) -> None:
    response = await send(client, sender, {"channel": "sms", "to": "+40740111222"})
    error = assert_error(response, 422, "validation_error")
    assert {"template_key", "body"} <= set(error["fields"]), error


async def test_sms_body_over_1600_characters(client: httpx.AsyncClient, sender: Sender) -> None:
    at_limit = await send(client, sender, {"channel": "sms", "to": "+40740111222", "body": "x" * 1600})
    assert at_limit.status_code == 202, at_limit.text
    over = await send(client, sender, {"channel": "sms", "to": "+40740111222", "body": "x" * 1601})
    error = assert_error(over, 422, "validation_error")
    assert "body" in error["fields"], error
    # Rendered length counts: a short template that renders long is refused too.
    rendered = await send(
        client,
        sender,
        {"channel": "sms", "to": "+40740111222", "body": "{{ text }}", "variables": {"text": "y" * 1601}},
    )
    assert_error(rendered, 422, "validation_error")


# --- batches --------------------------------------------------------------------------------------


async def test_batch_over_500_recipients(client: httpx.AsyncClient, db: Database, sender: Sender) -> None:
    recipients = [
        {"to": f"+4074{index:07d}", "variables": {"name": "A", "order": "1"}} for index in range(501)
    ]
    response = await send_batch(
        client, sender, {"channel": "whatsapp", "template_key": "delivery_update", "recipients": recipients}
    )
    assert_error(response, 413, "payload_too_large")
    assert await message_count(db, sender.keys.id) == 0


async def test_batch_rejects_a_bad_recipient_in_place(
    client: httpx.AsyncClient, db: Database, sender: Sender
) -> None:
    body = {
        "channel": "whatsapp",
        "template_key": "delivery_update",
        "recipients": [
            {"to": "+40740111222", "variables": {"name": "Ana", "order": "A12"}},
            {"to": "not a number", "variables": {"name": "Bad", "order": "A13"}},
            {"to": "+40740333444", "variables": {"name": "Mihai", "order": "A14"}},
        ],
    }
    response = await send_batch(client, sender, body)
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["total"], data["accepted"], data["rejected"]) == (3, 2, 1), data
    assert data["integration_id"] == sender.integration_id
    first, bad, last = data["results"]
    assert [item["index"] for item in data["results"]] == [0, 1, 2]
    assert (first["to"], first["status"]) == ("+40740111222", "queued")
    assert (last["to"], last["status"]) == ("+40740333444", "queued")
    assert isinstance(first["id"], int)
    assert isinstance(last["id"], int)
    assert first["id"] != last["id"]
    assert bad["status"] == "rejected"
    assert bad["to"] == "not a number"
    assert bad.get("id") is None
    assert bad["error"]["code"] == "validation_error"
    assert "to" in bad["error"]["fields"], bad
    assert await message_count(db, sender.keys.id) == 2


async def test_batch_status_over_100_ids(client: httpx.AsyncClient, sender: Sender) -> None:
    error = assert_error(await batch_status(client, sender, list(range(1, 102))), 422, "validation_error")
    assert "message_ids" in error["fields"], error
    at_limit = await batch_status(client, sender, list(range(1, 101)))
    assert at_limit.status_code == 200, at_limit.text
    assert len(at_limit.json()["data"]) == 100


async def test_batch_status_hides_foreign_and_unknown_ids(
    client: httpx.AsyncClient, sender: Sender, other_sender: Sender
) -> None:
    own = (await send(client, sender, payload("sms"))).json()["data"]["id"]
    foreign = (await send(client, other_sender, payload("sms"))).json()["data"]["id"]
    unknown = max(own, foreign) + 1000
    response = await batch_status(client, sender, [foreign, own, unknown])
    assert response.status_code == 200, response.text
    foreign_entry, own_entry, unknown_entry = response.json()["data"]
    assert foreign_entry == {"id": foreign, "status": "not_found"}
    assert unknown_entry == {"id": unknown, "status": "not_found"}
    assert own_entry["id"] == own
    assert own_entry["channel"] == "sms"
    assert own_entry["to"] == ADDRESSES["sms"]
    assert own_entry["status"] in {"queued", "sending", "sent", "delivered"}
    single = await client.get(f"{API}/{foreign}/status", headers=sender.headers)
    assert_error(single, 404, "not_found")


# Ids no row can have: the columns are 32-bit integers on PostgreSQL, and any JSON integer is a
# valid request value. Such an id is unknown like any other: 404, or `not_found` in a batch.
BEYOND = [pytest.param(2**31, id="2**31"), pytest.param(2**63, id="2**63")]


@pytest.fixture
async def lenient_client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but an unhandled error is the 500 response a real server gives."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.mark.parametrize("unknown", BEYOND)
async def test_status_of_an_id_beyond_the_column(
    lenient_client: httpx.AsyncClient, sender: Sender, unknown: int
) -> None:
    response = await lenient_client.get(f"{API}/{unknown}/status", headers=sender.headers)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("unknown", BEYOND)
async def test_batch_status_of_ids_beyond_the_column(
    lenient_client: httpx.AsyncClient, sender: Sender, unknown: int
) -> None:
    response = await batch_status(lenient_client, sender, [unknown])
    assert response.status_code == 200, response.text
    assert response.json() == {"data": [{"id": unknown, "status": "not_found"}]}


@pytest.mark.parametrize("unknown", BEYOND)
async def test_send_to_an_integration_id_beyond_the_column(
    lenient_client: httpx.AsyncClient, sender: Sender, unknown: int
) -> None:
    response = await send(lenient_client, sender, payload("sms", integration_id=unknown))
    assert_error(response, 404, "not_found")


# --- Idempotency-Key ------------------------------------------------------------------------------


async def test_same_key_same_body_replays(client: httpx.AsyncClient, db: Database, sender: Sender) -> None:
    first = await send(client, sender, payload("whatsapp"), **{"Idempotency-Key": "order-a12"})
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = await send(client, sender, payload("whatsapp"), **{"Idempotency-Key": "order-a12"})
    assert again.status_code == 202, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert await message_count(db, sender.keys.id) == 1


async def test_same_key_is_per_tenant(
    client: httpx.AsyncClient, sender: Sender, other_sender: Sender
) -> None:
    mine = await send(client, sender, payload("sms"), **{"Idempotency-Key": "shared"})
    theirs = await send(client, other_sender, payload("sms"), **{"Idempotency-Key": "shared"})
    assert (mine.status_code, theirs.status_code) == (202, 202), (mine.text, theirs.text)
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]


async def test_same_key_different_body(client: httpx.AsyncClient, db: Database, sender: Sender) -> None:
    first = await send(client, sender, payload("sms"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 202, first.text
    other = payload("sms", variables={"name": "Someone else", "date": "today"})
    error = assert_error(
        await send(client, sender, other, **{"Idempotency-Key": "k-1"}), 422, "idempotency_key_reused"
    )
    assert error["message"]
    assert await message_count(db, sender.keys.id) == 1


async def test_batch_same_key_replays(client: httpx.AsyncClient, db: Database, sender: Sender) -> None:
    body = {
        "channel": "sms",
        "template_key": "appointment_reminder",
        "variables": {"date": "today"},
        "recipients": [
            {"to": "+40740111222", "variables": {"name": "Ana"}},
            {"to": "+40740333444", "variables": {"name": "Mihai"}},
        ],
    }
    headers = sender.headers | {"Idempotency-Key": "batch-1"}
    first = await client.post(f"{API}/send-batch", json=body, headers=headers)
    assert first.status_code == 202, first.text
    again = await client.post(f"{API}/send-batch", json=body, headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert await message_count(db, sender.keys.id) == 2


async def test_concurrent_requests_with_one_key(
    client: httpx.AsyncClient, db: Database, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second request arrives while the first holds the key and has not answered yet: 409.

    To make the overlap certain rather than a matter of timing, the first request is held just
    after claiming the key until the second one has been answered.
    """
    claimed, release = asyncio.Event(), asyncio.Event()
    real_claim = messages._claim  # the seam between claiming the key and doing the work

    async def held_claim(*args: Any, **kwargs: Any) -> Any:
        result = await real_claim(*args, **kwargs)
        if not claimed.is_set():
            claimed.set()
            await asyncio.wait_for(release.wait(), timeout=10)
        return result

    monkeypatch.setattr(messages, "_claim", held_claim)
    key = {"Idempotency-Key": "concurrent-1"}

    async def first() -> httpx.Response:
        return await send(client, sender, payload("sms"), **key)

    async def second() -> httpx.Response:
        await asyncio.wait_for(claimed.wait(), timeout=10)
        try:
            return await send(client, sender, payload("sms"), **key)
        finally:
            release.set()

    one, two = await asyncio.gather(first(), second())
    assert one.status_code == 202, one.text
    assert_error(two, 409, "conflict")
    # Once the first has answered, the same request replays its answer.
    three = await send(client, sender, payload("sms"), **key)
    assert three.status_code == 202, three.text
    assert three.headers.get("Idempotent-Replayed") == "true"
    assert three.json()["data"]["id"] == one.json()["data"]["id"]
    assert await message_count(db, sender.keys.id) == 1
