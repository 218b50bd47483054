"""From accepted to final: the embedded workers, the sandbox's outcomes, the sweeper, forward-only moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import OptOut
from gateway.tables.columns import table_of
from resolvers.delivery import Delivery
from resolvers.message_status import MessageStatus
from resolvers.message_store import MESSAGES
from tests.support.messaging import send, sending_tenant, stored_message, wait_for_status

FINAL = {"delivered", "undelivered", "failed"}


@pytest.mark.parametrize(
    ("to", "final", "error_code", "attempts"),
    [
        ("+40740111222", "delivered", None, 1),
        ("+15005550001", "failed", "invalid_recipient", 1),
        ("+15005550002", "failed", "sandbox_unavailable", 5),
        ("+15005550003", "delivered", None, 2),
        ("+15005550005", "undelivered", "30005", 1),
    ],
)
async def test_sandbox_outcomes(
    client: httpx.AsyncClient, db: Database, to: str, final: str, error_code: str | None, attempts: int
) -> None:
    tenant, _ = await sending_tenant(db)
    accepted = await send(
        client, tenant, channel="sms", to=to, template_key="reminder", variables={"name": "A"}
    )
    assert accepted.status_code == 202, accepted.text
    view = await wait_for_status(client, tenant, accepted.json()["data"]["id"], FINAL)
    assert view["status"] == final, (view["attempts"], view["error_code"], view["updated_at"])
    assert view["error_code"] == error_code
    assert view["attempts"] == attempts
    statuses = [event["status"] for event in view["events"]]
    assert statuses[:2] == ["queued", "sending"]
    assert statuses[-1] == final
    assert len(statuses) == len(set(statuses))


async def test_no_receipt_leaves_the_message_sent(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    accepted = await send(client, tenant, channel="sms", to="+15005550004", body="ping")
    view = await wait_for_status(client, tenant, accepted.json()["data"]["id"], {"sent"})
    assert view["status"] == "sent"
    assert view["provider_message_id"]


async def test_sweeper_sends_what_a_lost_enqueue_left_behind(client: httpx.AsyncClient, db: Database) -> None:
    """A crash between the commit and the enqueue: rows `queued` (or `sending` past the lease) go out."""
    tenant, integration_id = await sending_tenant(db)
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    common = {
        "tenant_id": tenant.id,
        "integration_id": integration_id,
        "channel": "sms",
        "route": "integration",
        "provider": "sandbox",
        "body": "hello",
        "variables": {},
        "created_at": long_ago,
        "updated_at": long_ago,
    }
    async with db.writing() as connection:
        orphan = await connection.execute(
            insert(MESSAGES)
            .values(**common, to="+40740000001", status="queued", attempts=0)
            .returning(MESSAGES.c.id)
        )
        abandoned = await connection.execute(
            insert(MESSAGES)
            .values(**common, to="+40740000002", status="sending", attempts=1, lease_expires_at=long_ago)
            .returning(MESSAGES.c.id)
        )
        ids = [orphan.scalar_one(), abandoned.scalar_one()]
    for message_id in ids:
        view = await wait_for_status(client, tenant, message_id, FINAL)
        assert view["status"] == "delivered"
    abandoned_view = await wait_for_status(client, tenant, ids[1], FINAL)
    assert abandoned_view["attempts"] == 2


async def test_a_lost_receipt_is_asked_for(client: httpx.AsyncClient, db: Database) -> None:
    """The receipt never came (a broker lost it): past the timeout, the provider is asked."""
    tenant, integration_id = await sending_tenant(db)
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    lost = {"to": "+40740000003", "status": "sent", "attempts": 1, "provider_message_id": "SBlost",
            "created_at": long_ago, "updated_at": long_ago}  # fmt: skip
    message_id = await stored_message(db, tenant.id, integration_id, **lost)
    view = await wait_for_status(client, tenant, message_id, FINAL)
    assert view["status"] == "delivered"


async def test_a_receipt_ahead_of_its_sent_commit_is_applied_once_the_send_is_recorded(
    app: object, client: httpx.AsyncClient, db: Database
) -> None:
    """The provider's receipt overtook the commit of `sent`: it is retried until the id is known.
    The recipient is the sandbox's no-receipt number, so reconciliation cannot be what delivers it."""
    tenant, integration_id = await sending_tenant(db)
    sending = {"to": "+15005550004", "status": "sending", "attempts": 1}
    message_id = await stored_message(db, tenant.id, integration_id, **sending)
    queue = app.state.services.queue  # type: ignore[attr-defined]
    await queue.enqueue("apply_receipt", [("sandbox", "SBahead", "delivered", None, None)])
    await asyncio.sleep(0.3)  # the receipt's first try finds no such provider id
    async with db.writing() as connection:
        await connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == message_id)
            .values(status="sent", previous_status="sending", provider_message_id="SBahead")
        )
    view = await wait_for_status(client, tenant, message_id, FINAL)
    assert view["status"] == "delivered"


async def test_status_only_moves_forward(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    tenant, _ = await sending_tenant(db)
    accepted = await send(client, tenant, channel="whatsapp", to="+40740111333", template_key="update",
                          variables={"order": "A1"})  # fmt: skip
    view = await wait_for_status(client, tenant, accepted.json()["data"]["id"], {"delivered"})
    delivery = Delivery(db, settings, None)
    provider_id = view["provider_message_id"]
    for status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED):
        await delivery.receipt(provider="sandbox", provider_message_id=provider_id, status=status)
    await delivery.receipt(provider="sandbox", provider_message_id=provider_id, status=MessageStatus.READ)
    await delivery.receipt(provider="sandbox", provider_message_id=provider_id, status=MessageStatus.READ)
    final = await wait_for_status(client, tenant, view["id"], {"read"})
    assert [event["status"] for event in final["events"]] == [
        "queued",
        "sending",
        "sent",
        "delivered",
        "read",
    ]
    assert not await delivery.receipt(
        provider="sandbox", provider_message_id="unknown", status=MessageStatus.SENT
    )


async def test_opted_out_recipients_are_not_sent_to(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    async with db.writing() as connection:
        await connection.execute(
            insert(table_of(OptOut)).values(
                tenant_id=tenant.id,
                channel="sms",
                address="+40740999111",
                source="test",
                created_at=datetime.now(UTC),
            )
        )
    refused = await send(client, tenant, channel="sms", to="+40 740 999 111", body="promo")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    other_channel = await send(client, tenant, channel="whatsapp", to="+40740999111", body="order ready")
    assert other_channel.status_code == 202
    async with db.reading() as connection:
        count = await connection.execute(
            select(func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.tenant_id == tenant.id, MESSAGES.c.channel == "sms")
        )
        assert count.scalar_one() == 0


async def test_a_failed_enqueue_still_answers_202_and_delivers(
    client: httpx.AsyncClient, db: Database, app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker refuses after the commit: the answer stands, and the sweeper sends the message."""
    tenant, _ = await sending_tenant(db)

    async def broker_down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(app.state.services.queue, "enqueue", broker_down)  # type: ignore[attr-defined]
    accepted = await send(client, tenant, channel="sms", to="+40740111777", body="still sent")
    assert accepted.status_code == 202
    monkeypatch.undo()
    view = await wait_for_status(client, tenant, accepted.json()["data"]["id"], FINAL)
    assert view["status"] == "delivered"
