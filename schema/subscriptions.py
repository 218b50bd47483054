"""GraphQL subscriptions: live delivery events, one message's status, a campaign's progress."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from gateway.bus import StatusEvent
from resolvers import live_events
from schema.campaign_types import Campaign
from schema.context import GraphQLInfo


@strawberry.type(description="A status transition of a message; `cursor` resumes a stream after it.")
class DeliveryEvent:
    cursor: str
    message_id: int
    channel: str
    status: str
    occurred_at: datetime
    campaign_id: int | None
    detail: JSON

    @classmethod
    def from_event(cls, event: StatusEvent) -> DeliveryEvent:
        return cls(
            cursor=str(event.cursor),
            message_id=event.message_id,
            channel=event.channel,
            status=event.status,
            occurred_at=event.occurred_at,
            campaign_id=event.campaign_id,
            detail=cast(JSON, event.detail),
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The message's current state, then each transition; ends when final."
    )  # type: ignore[untyped-decorator]
    async def message_status(self, info: GraphQLInfo, id: int) -> AsyncGenerator[DeliveryEvent, None]:
        async for event in live_events.message_status(info.context.domain, message_id=id):
            yield DeliveryEvent.from_event(event)

    @strawberry.subscription(  # type: ignore[untyped-decorator]
        description="The tenant's delivery events; `after` replays the stored ones after that cursor first."
    )
    async def delivery_events(
        self,
        info: GraphQLInfo,
        channel: str | None = None,
        campaign_id: int | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[DeliveryEvent, None]:
        stream = live_events.delivery_events(
            info.context.domain, channel=channel, campaign_id=campaign_id, after=after
        )
        async for event in stream:
            yield DeliveryEvent.from_event(event)

    @strawberry.subscription(description="The campaign's status and stats whenever they change.")  # type: ignore[untyped-decorator]
    async def campaign_progress(self, info: GraphQLInfo, id: int) -> AsyncGenerator[Campaign, None]:
        async for record in live_events.campaign_progress(info.context.domain, campaign_id=id):
            yield Campaign.from_record(record)
