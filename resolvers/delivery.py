"""The worker's side of a message: claim it, record what the provider said, apply receipts.

Every change is a conditional UPDATE that only moves the status forward, with its event, and
is published on the bus after the commit. Running any step twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import EventPublisher, StatusEvent
from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import Integration
from gateway.tables.columns import table_of
from gateway.ttl_cache import TtlCache
from resolvers import campaign_counters
from resolvers.campaign_counters import CAMPAIGNS
from resolvers.campaign_status import CampaignStatus
from resolvers.message_status import MessageStatus, predecessors
from resolvers.message_store import EVENTS, MESSAGES
from resolvers.unsubscribe_tokens import list_unsubscribe_headers

INTEGRATIONS = table_of(Integration)
INTEGRATION_CACHE_SECONDS = 5.0  # a changed integration reaches the workers within this
OUTGOING_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.tenant_id,
    MESSAGES.c.integration_id,
    MESSAGES.c.channel,
    MESSAGES.c.route,
    MESSAGES.c.provider,
    MESSAGES.c.sender,
    MESSAGES.c.to,
    MESSAGES.c.subject,
    MESSAGES.c.body,
    MESSAGES.c.template_key,
    MESSAGES.c.variables,
    MESSAGES.c.attempts,
)


MOVED_COLUMNS = (MESSAGES.c.tenant_id, MESSAGES.c.channel, MESSAGES.c.campaign_id, MESSAGES.c.previous_status)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed message, with the provider config of its route."""

    id: int
    tenant_id: int
    integration_id: int | None
    channel: str
    route: str
    provider: str
    sender: str | None
    to: str
    subject: str | None
    body: str
    template_key: str | None
    variables: dict[str, Any]
    attempts: int
    config: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # extra email headers (List-Unsubscribe)


class Delivery:
    def __init__(self, db: Database, settings: Settings, bus: EventPublisher | None) -> None:
        self.db = db
        self.settings = settings
        self.bus = bus
        # Integration channel configs by id: every send reads one, and they rarely change.
        self._channels: TtlCache[int, dict[str, Any]] = TtlCache(max_entries=1000)

    def claim_statement(self, message_ids: list[int], now: datetime) -> Update:
        """Takes the sends: `queued` messages, or `sending` ones whose holder's lease ran out.

        A message of a cancelled campaign stays queued until the cancelling reaches it.
        """
        claimable = or_(
            MESSAGES.c.status == MessageStatus.QUEUED.value,
            and_(MESSAGES.c.status == MessageStatus.SENDING.value, MESSAGES.c.lease_expires_at < now),
        )
        campaign_cancelled = exists().where(
            CAMPAIGNS.c.id == MESSAGES.c.campaign_id, CAMPAIGNS.c.status == CampaignStatus.CANCELLED.value
        )
        return (
            update(MESSAGES)
            .where(MESSAGES.c.id.in_(message_ids), claimable, ~campaign_cancelled)
            .values(
                status=MessageStatus.SENDING.value,
                previous_status=MESSAGES.c.status,
                attempts=MESSAGES.c.attempts + 1,
                lease_expires_at=now + timedelta(seconds=self.settings.send_lease_seconds),
                updated_at=now,
            )
            .returning(*OUTGOING_COLUMNS, MESSAGES.c.campaign_id, MESSAGES.c.previous_status)
        )

    async def claim(self, message_id: int) -> Outgoing | None:
        """Takes one send (see `claim_statement`)."""
        events: list[StatusEvent] = []
        async with self.db.writing() as connection:
            now = datetime.now(UTC)  # the change happens here, once the writer has its transaction
            found = (await connection.execute(self.claim_statement([message_id], now))).first()
            if found is None:
                return None
            *row, campaign_id, before = found
            if campaign_id is not None:
                await campaign_counters.moved(
                    connection, campaign_id=campaign_id, message_id=found.id, before=before, after="sending"
                )
            if found.attempts == 1:
                sending = await _event(
                    connection,
                    tenant_id=found.tenant_id,
                    message_id=found.id,
                    channel=found.channel,
                    status="sending",
                    now=now,
                    campaign_id=campaign_id,
                )
                events.append(sending)
            config = await self.config_for(connection, found.integration_id, found.channel, found.route)
        await self.publish(events)
        return Outgoing(*row, config, self.headers_for(found, campaign_id))  # type: ignore[call-arg]

    async def awaiting_receipt(self, message_id: int) -> tuple[Outgoing, str] | None:
        """A `sent` message and its provider id, to ask the provider what became of it."""
        query = select(*OUTGOING_COLUMNS, MESSAGES.c.provider_message_id).where(
            MESSAGES.c.id == message_id, MESSAGES.c.status == MessageStatus.SENT.value
        )
        async with self.db.reading() as connection:
            row = (await connection.execute(query)).first()
            if row is None or row.provider_message_id is None:
                return None
            config = await self.config_for(connection, row.integration_id, row.channel, row.route)
        *fields, provider_message_id = row
        return Outgoing(*fields, config), provider_message_id  # type: ignore[call-arg]

    async def sent(self, message: Outgoing, provider_message_id: str) -> None:
        await self._move(
            message.id,
            MessageStatus.SENT,
            {"provider_message_id": provider_message_id, "lease_expires_at": None, "error_code": None,
             "error_message": None},
            {"provider_message_id": provider_message_id},
        )  # fmt: skip

    async def failed(self, message: Outgoing, *, code: str, text: str) -> None:
        values = {"error_code": code[:64], "error_message": text[:1000], "lease_expires_at": None}
        await self._move(
            message.id, MessageStatus.FAILED, values, {"error_code": code, "error_message": text}
        )

    async def retry_later(self, message: Outgoing, *, code: str, text: str) -> None:
        """A transient failure: the lease is given back so the retry (or the sweeper) can claim it."""
        now = datetime.now(UTC)
        statement = (
            update(MESSAGES)
            .where(MESSAGES.c.id == message.id, MESSAGES.c.status == MessageStatus.SENDING.value)
            .values(lease_expires_at=now, error_code=code[:64], error_message=text[:1000], updated_at=now)
        )
        async with self.db.writing() as connection:
            await connection.execute(statement)

    async def receipt(
        self,
        *,
        provider: str,
        provider_message_id: str,
        status: MessageStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """A provider's delivery receipt; False when no message has this provider id."""
        query = select(MESSAGES.c.id).where(
            MESSAGES.c.provider == provider, MESSAGES.c.provider_message_id == provider_message_id
        )
        async with self.db.reading() as connection:
            message_id = (await connection.execute(query)).scalar()
        if message_id is None:
            return False
        values: dict[str, Any] = {}
        detail: dict[str, Any] = {}
        if error_code:
            values |= {"error_code": error_code[:64], "error_message": (error_message or "")[:1000]}
            detail |= {"error_code": error_code, "error_message": error_message}
        await self._move(message_id, status, values, detail)
        return True

    async def _move(
        self, message_id: int, target: MessageStatus, values: dict[str, Any], detail: dict[str, Any]
    ) -> StatusEvent | None:
        async with self.db.writing() as connection:
            now = datetime.now(UTC)  # the change happens here, once the writer has its transaction
            statement = (
                update(MESSAGES)
                .where(MESSAGES.c.id == message_id, MESSAGES.c.status.in_(predecessors(target)))
                .values(status=target.value, previous_status=MESSAGES.c.status, updated_at=now, **values)
                .returning(*MOVED_COLUMNS)
            )
            row = (await connection.execute(statement)).first()
            if row is None:
                return None  # already there or beyond: a repeat, or a late receipt
            if row.campaign_id is not None:
                await campaign_counters.moved(
                    connection,
                    campaign_id=row.campaign_id,
                    message_id=message_id,
                    before=row.previous_status,
                    after=target.value,
                )
            event = await _event(
                connection,
                tenant_id=row.tenant_id,
                message_id=message_id,
                channel=row.channel,
                status=target.value,
                now=now,
                detail=detail,
                campaign_id=row.campaign_id,
            )
        await self.publish([event])
        return event

    async def config_for(
        self, connection: AsyncConnection, integration_id: int | None, channel: str, route: str
    ) -> dict[str, Any]:
        if route == "platform" or integration_id is None:
            return {
                "provider": self.settings.platform_sms_provider,
                "sender": self.settings.platform_sms_sender,
            }
        channels = self._channels.get(integration_id)
        if channels is None:
            query = select(INTEGRATIONS.c.channels).where(INTEGRATIONS.c.id == integration_id)
            channels = (await connection.execute(query)).scalar() or {}
            self._channels.put(integration_id, channels, ttl=INTEGRATION_CACHE_SECONDS)
        config = channels.get(channel, {})
        return config if isinstance(config, dict) else {}

    def headers_for(self, row: Any, campaign_id: int | None) -> dict[str, str]:
        """A campaign email's one-click unsubscribe headers; nothing for other messages."""
        if campaign_id is None or row.channel != "email":
            return {}
        return list_unsubscribe_headers(self.settings, tenant_id=row.tenant_id, address=row.to)

    async def publish(self, events: list[StatusEvent]) -> None:
        if self.bus is not None and events:
            await self.bus.publish(events)


async def _event(
    connection: AsyncConnection,
    *,
    tenant_id: int,
    message_id: int,
    channel: str,
    status: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    campaign_id: int | None = None,
) -> StatusEvent:
    detail = detail or {}
    values = {
        "tenant_id": tenant_id,
        "message_id": message_id,
        "status": status,
        "detail": detail,
        "occurred_at": now,
    }
    event_id = (await connection.execute(insert(EVENTS).values(values).returning(EVENTS.c.id))).scalar_one()
    return StatusEvent(event_id, tenant_id, message_id, channel, status, now, detail, campaign_id)
