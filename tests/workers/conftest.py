"""Provider fixtures: the stub provider APIs, settings pointing at them, messages to send or receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import Integration, Template
from resolvers.delivery import Outgoing
from resolvers.integrations import INTEGRATIONS
from resolvers.message_store import EVENTS, MESSAGES
from tests.support.provider_stubs import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    WHATSAPP_ACCESS_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID,
    GraphStub,
    StubServer,
    TwilioStub,
)
from tests.support.tenants import TenantKeys, new_tenant
from tests.support.webhook_receiver import Receiver, start_receiver
from tests.support.webhook_service import webhook_service

PUBLIC_BASE_URL = "https://gw.example.com"


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[TwilioStub]:
    stub = TwilioStub(accounts={TWILIO_ACCOUNT_SID: TWILIO_AUTH_TOKEN})
    server = StubServer(stub.app()).start()
    stub.url = server.url
    yield stub
    server.stop()


@pytest.fixture(scope="session")
def graph_server() -> Iterator[GraphStub]:
    stub = GraphStub(tokens={WHATSAPP_PHONE_NUMBER_ID: WHATSAPP_ACCESS_TOKEN})
    server = StubServer(stub.app()).start()
    stub.url = server.url
    yield stub
    server.stop()


@pytest.fixture
def twilio(twilio_server: TwilioStub) -> TwilioStub:
    twilio_server.requests.clear()
    twilio_server.fail_for.clear()
    twilio_server.messages.clear()
    return twilio_server


@pytest.fixture
def graph(graph_server: GraphStub) -> GraphStub:
    graph_server.requests.clear()
    graph_server.fail_for.clear()
    return graph_server


@pytest.fixture
def provider_settings(twilio_server: TwilioStub, graph_server: GraphStub, tmp_path: Any) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        public_base_url=PUBLIC_BASE_URL,
        twilio_api_base_url=twilio_server.url,
        graph_api_base_url=graph_server.url,
        provider_timeout_seconds=5,
    )


def make_outgoing(**changes: Any) -> Outgoing:
    """A claimed message as the worker hands it to a provider."""
    values: dict[str, Any] = {
        "id": 1, "tenant_id": 1, "integration_id": 1, "channel": "sms", "route": "integration",
        "provider": "sandbox", "sender": None, "to": "+14155550100", "subject": None, "body": "Hello",
        "template_key": None, "variables": {}, "attempts": 1, "config": {},
    }  # fmt: skip
    return Outgoing(**(values | changes))


@pytest.fixture
def outgoing() -> Callable[..., Outgoing]:
    return make_outgoing


SentMessage = Callable[..., Awaitable[int]]


@pytest.fixture
def sent_message(db: Database) -> SentMessage:
    """Inserts an integration serving `channel` with `config`, and a message it sent (status `sent`)."""

    async def insert_sent(
        *,
        tenant_id: int,
        channel: str,
        config: dict[str, Any],
        provider_message_id: str,
        status: str = "sent",
    ) -> int:
        now = datetime.now(UTC)
        async with db.writing() as connection:
            integration_id = (
                await connection.execute(
                    insert(INTEGRATIONS)
                    .values(tenant_id=tenant_id, name="providers", channels={channel: config},
                            is_default=False, created_at=now)
                    .returning(INTEGRATIONS.c.id)
                )
            ).scalar_one()  # fmt: skip
            message = {
                "tenant_id": tenant_id, "integration_id": integration_id, "channel": channel,
                "route": "integration", "provider": config["provider"], "sender": config.get("sender"),
                "to": "+14155550100", "body": "Your code is 1234", "variables": {}, "status": status,
                "provider_message_id": provider_message_id, "attempts": 1, "created_at": now,
                "updated_at": now,
            }  # fmt: skip
            statement = insert(MESSAGES).values(message).returning(MESSAGES.c.id)
            return int((await connection.execute(statement)).scalar_one())

    return insert_sent


@pytest.fixture
def message_state(db: Database) -> Callable[[int], Awaitable[dict[str, Any]]]:
    """A message's status and error, and the statuses of its events in order."""

    async def read(message_id: int) -> dict[str, Any]:
        async with db.reading() as connection:
            row = (
                await connection.execute(
                    select(MESSAGES.c.status, MESSAGES.c.error_code, MESSAGES.c.error_message).where(
                        MESSAGES.c.id == message_id
                    )
                )
            ).one()
            events = await connection.execute(
                select(EVENTS.c.status).where(EVENTS.c.message_id == message_id).order_by(EVENTS.c.id)
            )
            return {**row._asdict(), "events": [event.status for event in events]}

    return read


@pytest.fixture
def tenant_with_channels(db: Database) -> Callable[..., Awaitable[TenantKeys]]:
    """A new tenant whose default integration serves `channels` (channel -> provider config), with
    `templates` (Template fields) of its own."""

    async def create(channels: dict[str, Any], *templates: dict[str, Any]) -> TenantKeys:
        tenant = await new_tenant(db)
        async with db.sessions() as session:
            session.add(
                Integration(tenant_id=tenant.id, name="Providers", channels=channels, is_default=True)
            )
            session.add_all(Template(tenant_id=tenant.id, **template) for template in templates)
            await session.commit()
        return tenant

    return create


# A service of its own with webhook delivery, and a receiving server, per test module -------------


@pytest.fixture(scope="module")
async def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    directory = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    async with webhook_service(directory) as application:
        yield application


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
async def http(service: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
