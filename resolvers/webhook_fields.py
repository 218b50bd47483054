"""Webhook endpoint input: a URL, and a delivery profile or an explicit list of events."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from resolvers.webhook_catalog import EVENT_NAMES, PROFILES

MAX_URL_LENGTH = 2048


class WebhookFields(BaseModel):
    """Neither `delivery_profile` nor `events`: every event (profile `all`)."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)]
    delivery_profile: str | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_NAMES))
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""

    @field_validator("delivery_profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in PROFILES:
            raise ValueError("one of " + ", ".join(PROFILES))
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = [name for name in value if name not in EVENT_NAMES]
        if unknown:
            raise ValueError(f"unknown events {unknown}: see GET /integrations/webhooks/events-catalog")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _profile_or_events(self) -> WebhookFields:
        if self.delivery_profile is not None and self.events is not None:
            raise ValueError("give delivery_profile or events, not both")
        return self

    def subscription(self) -> tuple[str | None, list[str], str | None]:
        """The profile (if any), the events and the channel filter this endpoint receives."""
        if self.events is not None:
            return None, self.events, None
        profile = PROFILES[self.delivery_profile or "all"]
        return profile.name, list(profile.events), profile.channel
