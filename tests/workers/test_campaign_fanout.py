"""The fan-out, the scheduler and cancelling, driven step by step on a database of their own.

No workers run here (the session's app runs some on the shared test database, so these tests
get a fresh one): the test plays the worker, so crashes and races happen exactly where it says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.db import Database
from resolvers import accounts, campaigns
from resolvers.campaign_counters import CAMPAIGNS
from resolvers.campaign_fanout import FanOut, Step
from resolvers.campaign_fields import CampaignFields, SendCampaignFields, window_opening
from resolvers.campaign_records import CampaignRecord
from resolvers.context import Context
from resolvers.delivery import Delivery
from resolvers.message_store import MESSAGES
from tests.support.campaigns import add_contacts, adds_up, direct_counts
from tests.support.databases import migrated_database
from tests.support.messaging import sending_tenant
from tests.support.recording_queue import RecordingQueue
from workers.campaign_scheduler import schedule_once

EMAIL = {"name": "Fan-out", "channel": "email", "message_template": "Hello {{ name }}", "subject": "Hi"}


def sent_ids(queue: RecordingQueue) -> list[tuple[int]]:
    """The message ids handed to the senders, one tuple each, in order (they go in groups)."""
    return [(message_id,) for (group,) in queue.of("send_messages") for message_id in group]


@pytest.fixture(scope="module")
async def own_db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path_factory.mktemp("fanout")) as db:
        yield db


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


async def sending_campaign(
    db: Database, queue: RecordingQueue, contacts: int, **fields: Any
) -> tuple[Context, CampaignRecord]:
    tenant, _ = await sending_tenant(db)
    await add_contacts(db, tenant.id, contacts, prefix="fan")
    ctx = await tenant_context(db, queue, tenant.full)
    created = await campaigns.create_campaign(ctx, fields=CampaignFields.model_validate(EMAIL | fields))
    record = await campaigns.send_campaign(ctx, campaign_id=created.id, fields=SendCampaignFields())
    return ctx, record


async def tenant_context(db: Database, queue: RecordingQueue, key: str) -> Context:
    principal = await accounts.authenticate(db, db.settings, api_key=key, bearer=None, tenant_ref=None)
    return Context(db=db, settings=db.settings, queue=queue, principal=principal)


def fan_out(ctx: Context, campaign_id: int, chunk_size: int = 10) -> FanOut:
    return FanOut(ctx.db, ctx.settings, ctx.task_queue(), None, campaign_id, chunk_size=chunk_size)


async def test_a_fan_out_killed_mid_way_resumes_after_its_last_chunk(
    own_db: Database, queue: RecordingQueue
) -> None:
    ctx, campaign = await sending_campaign(own_db, queue, 95)
    assert queue.of("fan_out_campaign") == [(campaign.id,)]
    first = fan_out(ctx, campaign.id)
    assert await first.step() is Step.MORE
    assert await first.step() is Step.MORE  # then the worker dies: no more steps from `first`
    resumed = fan_out(ctx, campaign.id)
    assert await resumed.run() is Step.FINISHED
    assert resumed.chunks == 8  # 95 contacts, 20 done before the crash: 75 left in chunks of 10
    again = fan_out(ctx, campaign.id)
    assert await again.run() is Step.STOPPED  # finished campaigns are left alone
    sent = [args[0] for args in sent_ids(queue)]
    assert len(sent) == len(set(sent)) == 95
    stats = (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).stats
    assert stats["total"] == stats["queued"] == 95
    counted = await direct_counts(own_db, campaign.id)
    assert counted["queued"] == 95
    assert sum(counted.values()) == 95


async def test_two_fan_outs_at_once_never_duplicate(own_db: Database, queue: RecordingQueue) -> None:
    ctx, campaign = await sending_campaign(own_db, queue, 120)
    results = await asyncio.gather(*(fan_out(ctx, campaign.id, chunk_size=7).run() for _ in range(3)))
    assert Step.FINISHED in results
    async with own_db.reading() as connection:
        contact_ids = list(
            (
                await connection.execute(
                    select(MESSAGES.c.contact_id).where(MESSAGES.c.campaign_id == campaign.id)
                )
            ).scalars()
        )
    assert len(contact_ids) == len(set(contact_ids)) == 120
    stats = (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).stats
    assert stats["total"] == 120
    assert adds_up(stats)


async def test_cancel_during_sending_stops_the_rest(own_db: Database, queue: RecordingQueue) -> None:
    ctx, campaign = await sending_campaign(own_db, queue, 40)
    assert await fan_out(ctx, campaign.id).step() is Step.MORE  # 10 of 40 contacts have messages
    delivery = Delivery(own_db, ctx.settings, None)
    for (message_id,) in sent_ids(queue)[:4]:  # a worker sends four of them
        claimed = await delivery.claim(message_id)
        assert claimed is not None
        await delivery.sent(claimed, f"prov-{message_id}")
    in_hand = await delivery.claim(sent_ids(queue)[4][0])  # and holds a fifth
    assert in_hand is not None
    cancelled = await campaigns.cancel_campaign(ctx, campaign_id=campaign.id)
    assert cancelled.status == "cancelled"
    assert await fan_out(ctx, campaign.id).run() is Step.STOPPED  # the fan-out does not go on
    assert await delivery.claim(sent_ids(queue)[6][0]) is None  # nor do queued sends
    await delivery.sent(in_hand, "prov-in-hand")  # what was in a provider's hands completes
    stats = (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).stats
    assert (stats["total"], stats["sent"], stats["cancelled"], stats["queued"]) == (10, 5, 5, 0)
    assert adds_up(stats)
    counted = await direct_counts(own_db, campaign.id)
    assert counted == {key: stats[key] for key in counted}
    assert (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).progress == 100.0


async def test_outside_the_send_window_the_fan_out_waits(own_db: Database, queue: RecordingQueue) -> None:
    now = datetime.now(UTC)
    start, end = (now + timedelta(hours=2)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")
    closed = {"start": start, "end": end, "timezone": "UTC"}
    ctx, campaign = await sending_campaign(own_db, queue, 5, send_window=closed)
    assert await fan_out(ctx, campaign.id).run() is Step.PAUSED
    async with own_db.reading() as connection:
        resume_at = (
            await connection.execute(
                select(CAMPAIGNS.c.fanout_resume_at).where(CAMPAIGNS.c.id == campaign.id)
            )
        ).scalar_one()
    assert resume_at is not None
    assert timedelta(hours=1) < resume_at - now <= timedelta(hours=2)
    assert (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).stats["total"] == 0
    async with own_db.writing() as connection:  # the window opens: the scheduler resumes it
        await connection.execute(
            update(CAMPAIGNS)
            .where(CAMPAIGNS.c.id == campaign.id)
            .values(fanout_resume_at=now - timedelta(seconds=1), send_window=None)
        )
    queue.calls.clear()
    await schedule_once(own_db, queue, ctx.settings)
    assert (campaign.id,) in queue.of("fan_out_campaign")
    assert await fan_out(ctx, campaign.id).run() is Step.FINISHED


def test_window_opening_across_midnight_and_zones() -> None:
    night = {"start": "22:00", "end": "06:00", "timezone": "UTC"}
    assert window_opening(night, datetime(2026, 5, 1, 23, 0, tzinfo=UTC)) is None
    assert window_opening(night, datetime(2026, 5, 1, 5, 59, tzinfo=UTC)) is None
    assert window_opening(night, datetime(2026, 5, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 5, 1, 22, 0, tzinfo=UTC
    )
    day = {"start": "09:00", "end": "20:00", "timezone": "Europe/Bucharest"}  # UTC+3 in summer
    assert window_opening(day, datetime(2026, 7, 1, 6, 30, tzinfo=UTC)) is None
    assert window_opening(day, datetime(2026, 7, 1, 17, 0, tzinfo=UTC)) == datetime(
        2026, 7, 2, 6, 0, tzinfo=UTC
    )
    assert window_opening(day, datetime(2026, 1, 1, 5, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, 7, 0, tzinfo=UTC
    )


async def test_concurrent_schedulers_start_a_due_campaign_once(
    own_db: Database, queue: RecordingQueue
) -> None:
    tenant, _ = await sending_tenant(own_db)
    await add_contacts(own_db, tenant.id, 3, prefix="due")
    ctx = await tenant_context(own_db, queue, tenant.full)
    created = await campaigns.create_campaign(ctx, fields=CampaignFields.model_validate(EMAIL))
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    await campaigns.send_campaign(ctx, campaign_id=created.id, fields=SendCampaignFields(scheduled_at=soon))
    await schedule_once(own_db, queue, ctx.settings)
    assert queue.of("fan_out_campaign") == []  # not due yet
    await asyncio.sleep(1.1)
    await asyncio.gather(*(schedule_once(own_db, queue, ctx.settings) for _ in range(4)))
    assert queue.of("fan_out_campaign").count((created.id,)) == 1
    record = await campaigns.get_campaign(ctx, campaign_id=created.id)
    assert record.status == "sending"
    assert record.audience_size == 3


async def test_a_silent_fan_out_is_resumed_by_the_scheduler(own_db: Database, queue: RecordingQueue) -> None:
    ctx, campaign = await sending_campaign(own_db, queue, 25)
    assert await fan_out(ctx, campaign.id).step() is Step.MORE  # then the worker is killed
    queue.calls.clear()
    await schedule_once(own_db, queue, ctx.settings)
    assert (campaign.id,) not in queue.of("fan_out_campaign")  # its heartbeat is fresh
    stale = datetime.now(UTC) - timedelta(seconds=ctx.settings.campaign_stall_seconds + 1)
    async with own_db.writing() as connection:
        await connection.execute(
            update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign.id).values(fanout_heartbeat_at=stale)
        )
    await schedule_once(own_db, queue, ctx.settings)
    assert queue.of("fan_out_campaign").count((campaign.id,)) == 1
    assert await fan_out(ctx, campaign.id).run() is Step.FINISHED
    assert (await campaigns.get_campaign(ctx, campaign_id=campaign.id)).stats["total"] == 25
