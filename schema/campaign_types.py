"""GraphQL types and inputs of campaigns, shown from the same record (`public()`) as REST shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from resolvers.campaign_messages import messages_request
from resolvers.campaign_records import CampaignRecord
from resolvers.errors import NotFound
from schema.context import GraphQLInfo
from schema.messages import Message, MessagePage


@strawberry.type(description="Who a campaign goes to: every contact, contacts by tags, or listed contacts.")
class CampaignAudience:
    type: str = strawberry.field(description="`all`, `tags` or `contacts`.")
    tags: list[str] | None = None
    tag_match: str | None = strawberry.field(default=None, description="`any` or `all` of the tags.")
    contact_count: int | None = strawberry.field(default=None, description="How many contacts were listed.")


@strawberry.type(description="Local hours in which the campaign's messages go out.")
class SendWindow:
    start: str
    end: str
    timezone: str


@strawberry.type(description="Messages per status (plus skipped contacts); they always add up to `total`.")
class CampaignStats:
    total: int
    skipped: int
    queued: int
    sending: int
    sent: int
    delivered: int
    read: int
    undelivered: int
    failed: int
    cancelled: int


@strawberry.type
class Campaign:
    id: int
    name: str
    channel: str
    status: str
    message_template: str | None
    template_key: str | None
    subject: str | None
    integration_id: int | None
    sms_routing: str | None
    audience: CampaignAudience
    send_window: SendWindow | None
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    stats: CampaignStats
    delivery_rate: float = strawberry.field(description="Percent of the messages created that arrived.")
    progress: float = strawberry.field(description="Percent of the audience that has left the queue (0-100).")

    @strawberry.field(description="The campaign's messages, newest first.")  # type: ignore[untyped-decorator]
    async def messages(
        self,
        info: GraphQLInfo,
        page: int | None = None,
        per_page: int | None = None,
        status: str | None = None,
    ) -> MessagePage:
        request = messages_request(
            info.context.domain, campaign_id=self.id, page=page, per_page=per_page, status=status
        )
        found = await info.context.loaders.messages_by_campaign.load(request)
        if found is None:
            raise NotFound(f"campaign {self.id} not found")
        return MessagePage(
            items=[Message.from_view(view) for view in found.items], total_count=found.total,
            page=found.page, per_page=found.per_page, last_page=found.last_page,
        )  # fmt: skip

    @classmethod
    def from_record(cls, record: CampaignRecord) -> Campaign:
        shown = record.public()
        window = shown["send_window"]
        shown["audience"] = CampaignAudience(**shown["audience"])
        shown["send_window"] = SendWindow(**window) if window else None
        shown["stats"] = CampaignStats(**shown["stats"])
        return cls(**shown)


@strawberry.type
class CampaignPage:
    items: list[Campaign]
    total_count: int
    page: int
    per_page: int
    last_page: int


@strawberry.input(description="Local hours (HH:MM) in which messages go out, in an IANA time zone.")
class SendWindowInput:
    start: str
    end: str
    timezone: str | None = strawberry.UNSET


@strawberry.input(
    description="A campaign: a messageTemplate or a templateKey, the route, and an audience "
    "(tags with tagMatch, or contactIds; neither: every contact)."
)
class CampaignInput:
    name: str
    channel: str
    message_template: str | None = strawberry.UNSET
    template_key: str | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    integration_id: int | None = strawberry.UNSET
    sms_routing: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    tag_match: str | None = strawberry.UNSET
    contact_ids: list[int] | None = strawberry.UNSET
    send_window: SendWindowInput | None = strawberry.UNSET


def given(source: object) -> dict[str, Any]:
    """The fields a client sent, in the resolver's input shape (the nested window included)."""
    return {
        name: given(value) if isinstance(value, SendWindowInput) else value
        for name, value in vars(source).items()
        if value is not strawberry.UNSET
    }
