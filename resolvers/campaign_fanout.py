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


@dataclass(frozen=True, slots=True)
class Chunk:
    after: int  # the fan-out cursor it was read from
    contacts: list[Any]
    recipients: Recipients

    @property
    def last_id(self) -> int:
        return int(self.contacts[-1].id)


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

        Two things overlap the chunk transaction: the previous chunk's hand-over to the bus and
        the broker, and the reading and rendering of the next chunk (on a reading connection;
        used only if the cursor is still where it was read from when its transaction starts).
        """
        step, handing_over, ahead = Step.MORE, None, None
        try:
            while step is Step.MORE:
                step, hand_over, ahead = await self._chunk(ahead, read_ahead=True)
                if handing_over is not None:
                    await handing_over
                handing_over = asyncio.ensure_future(hand_over()) if hand_over else None
        finally:
            if handing_over is not None:
                await handing_over
        return step

    async def step(self) -> Step:
        """One chunk, handed over before returning."""
        step, hand_over, _ = await self._chunk(None, read_ahead=False)
        if hand_over is not None:
            await hand_over()
        return step

    async def _chunk(
        self, ahead: Chunk | None, *, read_ahead: bool
    ) -> tuple[Step, Callable[[], Awaitable[None]] | None, Chunk | None]:
        """One chunk's transaction; then what hands its messages over (to call after it), and the
        next chunk when `read_ahead`."""
        now = datetime.now(UTC)
        upcoming: asyncio.Future[Chunk] | None = None
        try:
            async with self.db.writing() as connection:
                campaign = await self._claim(connection, now)
                if campaign is None:
                    return Step.STOPPED, None, None
                opening = window_opening(campaign.send_window, now) if campaign.send_window else None
                if opening is not None:
                    await self._update(connection, fanout_resume_at=opening)
                    return Step.PAUSED, None, None
                content = await self._resolve(connection, campaign, now)
                if content is None:
                    return Step.STOPPED, None, None
                if ahead is None or ahead.after != campaign.fanout_cursor:
                    ahead = await self._read(connection, campaign, content, after=campaign.fanout_cursor)
                finished = len(ahead.contacts) < self.chunk_size
                if read_ahead and not finished:
                    upcoming = asyncio.ensure_future(self._read_apart(campaign, content, ahead.last_id))
                queued = await self._insert(connection, campaign.tenant_id, content, ahead.recipients, now)
                await self._record(connection, ahead.recipients, queued, ahead.contacts, finished=finished)
            following = await self._outcome(upcoming)
        except BaseException:
            if upcoming is not None:
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)
            raise
        self.chunks += 1
        hand_over = functools.partial(self._hand_over, campaign.tenant_id, content.channel, queued, now)
        return (Step.FINISHED if finished else Step.MORE), hand_over, following

    async def _read(
        self, connection: AsyncConnection, campaign: Any, content: Content, *, after: int
    ) -> Chunk:
        """The audience's next contacts after `after`, and which of them get what message."""
        contacts = await next_contacts(
            connection, campaign.tenant_id, campaign.audience, after=after, limit=self.chunk_size
        )
        recipients = await pick_recipients(connection, campaign.tenant_id, content, contacts)
        return Chunk(after, contacts, recipients)

    async def _outcome(self, upcoming: asyncio.Future[Chunk] | None) -> Chunk | None:
        """The chunk read ahead; None if it failed (the next transaction reads it itself)."""
        if upcoming is None:
            return None
        try:
            return await upcoming
        except Exception:  # e.g. a lost connection: only the overlap is lost
            logger.warning("campaign %d: reading ahead failed", self.campaign_id, exc_info=True)
            return None

    async def _read_apart(self, campaign: Any, content: Content, after: int) -> Chunk:
        async with self.db.reading() as connection:
            return await self._read(connection, campaign, content, after=after)

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
