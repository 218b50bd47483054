"""The bus's wire format on Redis: one channel per tenant, several events in one message."""

from __future__ import annotations

from datetime import datetime

import orjson

from gateway.bus import StatusEvent, by_tenant

CHANNEL_PREFIX = "weconn:events:"
PUBLISH_BATCH = 500  # events in one Redis message (about 80 KB)


def encode(events: list[StatusEvent]) -> bytes:
    """One Redis message for several events of a tenant: one publish and one relay wake-up."""
    return orjson.dumps(
        [
            [event.cursor, event.tenant_id, event.message_id, event.channel, event.status,
             event.occurred_at.isoformat(), event.detail, event.campaign_id]
            for event in events
        ]
    )  # fmt: skip


def decode(payload: bytes) -> list[StatusEvent]:
    events = []
    for fields in orjson.loads(payload):
        cursor, tenant_id, message_id, channel, status, occurred_at, detail, campaign_id = fields
        when = datetime.fromisoformat(occurred_at)
        events.append(StatusEvent(cursor, tenant_id, message_id, channel, status, when, detail, campaign_id))
    return events


def messages_of(events: list[StatusEvent]) -> list[tuple[str, bytes]]:
    """(channel, payload) pairs: each tenant's events in order, at most PUBLISH_BATCH a message."""
    return [
        (f"{CHANNEL_PREFIX}{tenant_id}", encode(tenant_events[start : start + PUBLISH_BATCH]))
        for tenant_id, tenant_events in by_tenant(events).items()
        for start in range(0, len(tenant_events), PUBLISH_BATCH)
    ]
