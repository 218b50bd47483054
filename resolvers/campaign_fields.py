"""Campaign inputs: what to send, to whom, and when."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from resolvers.errors import field_error

MAX_CONTACT_IDS = 10_000
MAX_TAGS = 50
MAX_SCHEDULE_AHEAD = timedelta(days=366)
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class SendWindowFields(BaseModel):
    """Local hours in which a campaign's messages go out, e.g. 09:00-20:00 Europe/Bucharest."""

    model_config = ConfigDict(extra="forbid")

    start: ClockTime
    end: ClockTime
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (use an IANA name like Europe/Bucharest)"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindowFields:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class CampaignFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    channel: Literal["sms", "email", "whatsapp"]
    message_template: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)] | None = None
    template_key: Annotated[str, StringConstraints(max_length=100)] | None = None
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    integration_id: int | None = None
    sms_routing: Literal["platform", "integration"] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    tag_match: Literal["any", "all"] = "any"
    contact_ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_CONTACT_IDS)
    send_window: SendWindowFields | None = None

    @model_validator(mode="after")
    def _one_audience_and_one_content(self) -> CampaignFields:
        if self.tags is not None and self.contact_ids is not None:
            raise ValueError("give tags or contact_ids, not both (neither: every contact)")
        if (self.message_template is None) == (self.template_key is None):
            raise ValueError("give exactly one of message_template or template_key")
        return self


class SendCampaignFields(BaseModel):
    """An empty body sends now; `scheduled_at` schedules (or moves the schedule)."""

    model_config = ConfigDict(extra="forbid")

    scheduled_at: Annotated[str, StringConstraints(max_length=64)] | None = None
    send_window: SendWindowFields | None = None


def parse_schedule(raw: str, *, now: datetime) -> datetime:
    """An ISO 8601 instant in the future (no offset means UTC); otherwise a 422."""
    try:
        when = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError:
        raise field_error("scheduled_at", "not an ISO 8601 date-time, e.g. 2026-04-01T10:00:00Z") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise field_error("scheduled_at", "must be in the future")
    if when - now > MAX_SCHEDULE_AHEAD:
        raise field_error("scheduled_at", "at most a year ahead")
    return when


def window_opening(window: dict[str, str], now: datetime) -> datetime | None:
    """None when `now` is inside the window; else the next time it opens (UTC)."""
    zone = ZoneInfo(window.get("timezone", "UTC"))
    local = now.astimezone(zone)
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if inside:
        return None
    opening = datetime.combine(local.date(), start, tzinfo=zone)
    if opening <= local:
        opening = datetime.combine(local.date() + timedelta(days=1), start, tzinfo=zone)
    return opening.astimezone(UTC)
