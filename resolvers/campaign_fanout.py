"""The fan-out: the audience, chunk by chunk, becomes queued messages handed to the senders.

Each chunk is one transaction that starts by touching the campaign row (its heartbeat; on
PostgreSQL that also locks the row, so two fan-outs of one campaign take turns) and ends by
moving the cursor. A killed fan-out therefore resumes after its last committed chunk, and the
unique (campaign, contact) constraint makes a second message to a contact impossible anyway.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.bus import EventPublisher, StatusEvent
from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers import campaign_counters
from resolvers.campaign_audience import next_contacts
from resolvers.campaign_content import Content, resolve_content
from resolvers.campaign_counters import CAMPAIGNS
from resolvers.campaign_fields import window_opening
from resolvers.campaign_recipients import Recipients, pick_recipients
from resolvers.campaign_status import CampaignStatus
from resolvers.errors import DomainError
from resolvers.message_status import MessageStatus
from resolvers.message_store import EVENTS, SEND_GROUP_ACTOR, send_groups
from resolvers.message_writes import insert_new_messages

logger = logging.getLogger("weconn.campaigns")
CLAIM_COLUMNS = (
    CAMPAIGNS.c.tenant_id, CAMPAIGNS.c.channel, CAMPAIGNS.c.integration_id, CAMPAIGNS.c.sms_routing,
    CAMPAIGNS.c.message_template, CAMPAIGNS.c.template_key, CAMPAIGNS.c.subject, CAMPAIGNS.c.audience,
    CAMPAIGNS.c.send_window, CAMPAIGNS.c.fanout_cursor,
)  # fmt: skip


class Step(Enum):
    MORE = "more"  # a chunk went out; there may be more
    FINISHED = "finished"  # the audience is exhausted
    STOPPED = "stopped"  # not sending any more (cancelled, completed, failed) or never was
    PAUSED = "paused"  # outside the send window; the scheduler resumes it when the window opens


@dataclass
class FanOut:
    db: Database
    settings: Settings
    queue: TaskQueue
    bus: EventPublisher | None
    campaign_id: int
    chunk_size: int = 1000
    _content: Content | None = field(default=None, init=False)
    chunks: int = field(default=0, init=False)

    async def run(self) -> Step:
        """Chunks until the audience is done, the campaign stops, or the window closes.

        A chunk's hand-over to the bus and the broker runs while the next chunk's transaction
        does, one hand-over at a time (they are I/O waits the chunk need not sit through).
        """
        step, handing_over = Step.MORE, None
        try:
            while step is Step.MORE:
                step, hand_over = await self._chunk()
                if handing_over is not None:
                    await handing_over
                handing_over = asyncio.ensure_future(hand_over()) if hand_over else None
        finally:
            if handing_over is not None:
                await handing_over
        return step

    async def step(self) -> Step:
        """One chunk, handed over before returning."""
        step, hand_over = await self._chunk()
        if hand_over is not None:
            await hand_over()
        return step

    async def _chunk(self) -> tuple[Step, Callable[[], Awaitable[None]] | None]:
        """One chunk's transaction; then what hands its messages over, to be called after it."""
        now = datetime.now(UTC)
        async with self.db.writing() as connection:
            campaign = await self._claim(connection, now)
            if campaign is None:
                return Step.STOPPED, None
            opening = window_opening(campaign.send_window, now) if campaign.send_window else None
            if opening is not None:
                await self._update(connection, fanout_resume_at=opening)
                return Step.PAUSED, None
            content = await self._resolve(connection, campaign, now)
            if content is None:
                return Step.STOPPED, None
            contacts = await next_contacts(
                connection,
                campaign.tenant_id,
                campaign.audience,
                after=campaign.fanout_cursor,
                limit=self.chunk_size,
            )
            recipients = await pick_recipients(connection, campaign.tenant_id, content, contacts)
            queued = await self._insert(connection, campaign.tenant_id, content, recipients, now)
            finished = len(contacts) < self.chunk_size
            await self._record(connection, recipients, queued, contacts, finished=finished)
        self.chunks += 1
        hand_over = functools.partial(self._hand_over, campaign.tenant_id, content.channel, queued, now)
        return (Step.FINISHED if finished else Step.MORE), hand_over

    async def _claim(self, connection: AsyncConnection, now: datetime) -> Any:
        statement = (
            update(CAMPAIGNS)
            .where(
                CAMPAIGNS.c.id == self.campaign_id,
                CAMPAIGNS.c.status == CampaignStatus.SENDING.value,
                CAMPAIGNS.c.fanout_done.is_(False),
            )
            .values(fanout_heartbeat_at=now)
            .returning(*CLAIM_COLUMNS)
        )
        return (await connection.execute(statement)).first()

    async def _resolve(self, connection: AsyncConnection, campaign: Any, now: datetime) -> Content | None:
        if self._content is None:
            try:
                self._content = await resolve_content(
                    connection, self.settings, tenant_id=campaign.tenant_id, channel=campaign.channel,
                    integration_id=campaign.integration_id, sms_routing=campaign.sms_routing,
                    message_template=campaign.message_template, template_key=campaign.template_key,
                    subject=campaign.subject,
                )  # fmt: skip
            except DomainError as error:  # its integration or template went away since creation
                logger.warning("campaign %d failed: %s", self.campaign_id, error.message)
                await self._update(connection, status=CampaignStatus.FAILED.value, completed_at=now)
                return None
        return self._content

    async def _insert(
        self,
        connection: AsyncConnection,
        tenant_id: int,
        content: Content,
        recipients: Recipients,
        now: datetime,
    ) -> list[tuple[int, int]]:
        """The new messages as (message id, event id)."""
        ids = await insert_new_messages(
            connection, tenant_id=tenant_id, campaign_id=self.campaign_id, content=content,
            drafts=recipients.drafts, now=now,
        )  # fmt: skip
        if not ids:
            return []
        events = [{"tenant_id": tenant_id, "message_id": message_id, "status": MessageStatus.QUEUED.value,
                   "detail": {}, "occurred_at": now} for message_id in ids]  # fmt: skip
        # Paired by message id, not by order: SQLite can only keep RETURNING in parameter order by
        # inserting row by row, twenty times slower than one multi-row INSERT.
        statement = insert(EVENTS).returning(EVENTS.c.message_id, EVENTS.c.id)
        event_ids = {int(row[0]): int(row[1]) for row in await connection.execute(statement, events)}
        return [(message_id, event_ids[message_id]) for message_id in ids]

    async def _record(
        self,
        connection: AsyncConnection,
        recipients: Recipients,
        queued: list[tuple[int, int]],
        contacts: list[Any],
        *,
        finished: bool,
    ) -> None:
        """Counters and cursor move together with the messages, in the chunk's transaction."""
        skipped = recipients.skipped
        deltas = {"total": skipped + len(queued), "skipped": skipped, "queued": len(queued)}
        await campaign_counters.add(connection, self.campaign_id, self.chunks, deltas)
        changes: dict[str, Any] = {"fanout_done": finished, "fanout_resume_at": None}
        if contacts:
            changes["fanout_cursor"] = contacts[-1].id
        await self._update(connection, **changes)
        if finished:
            await campaign_counters.complete_if_finished(connection, campaign_id=self.campaign_id)

    async def _update(self, connection: AsyncConnection, **changes: Any) -> None:
        changes["updated_at"] = datetime.now(UTC)
        await connection.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == self.campaign_id).values(changes))

    async def _hand_over(
        self, tenant_id: int, channel: str, queued: list[tuple[int, int]], now: datetime
    ) -> None:
        """After the commit: subscribers hear of the messages first, then the senders get them
        (a failed enqueue only delays: the sweeper re-sends queued rows)."""
        if not queued:
            return
        if self.bus is not None:
            status = MessageStatus.QUEUED.value
            await self.bus.publish(
                [
                    StatusEvent(event_id, tenant_id, message_id, channel, status, now, {}, self.campaign_id)
                    for message_id, event_id in queued
                ]
            )
        try:
            await self.queue.enqueue(SEND_GROUP_ACTOR, send_groups([message_id for message_id, _ in queued]))
        except Exception:  # any broker failure
            logger.exception(
                "enqueue failed for %d campaign messages; the sweeper will send them", len(queued)
            )
