"""Send inputs: one message, or a batch of recipients sharing the rest."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from resolvers.validation import bounded_json

MAX_VARIABLES_BYTES = 16 * 1024
MAX_BATCH = 500
MAX_STATUS_IDS = 100
Text = Annotated[str, StringConstraints(max_length=64 * 1024)]


def _small_variables(value: dict[str, Any]) -> dict[str, Any]:
    bounded: dict[str, Any] = bounded_json(value, MAX_VARIABLES_BYTES)
    return bounded


class ContentFields(BaseModel):
    """What every send names: the channel, the route, and a template or a body."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "email", "whatsapp"]
    template_key: Annotated[str, StringConstraints(max_length=100)] | None = None
    body: Text | None = None
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    integration_id: int | None = None
    sms_routing: Literal["platform", "integration"] | None = None

    _variables_are_small = field_validator("variables")(_small_variables)


class SendFields(ContentFields):
    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]


class RecipientFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    variables: dict[str, Any] = Field(default_factory=dict)

    _variables_are_small = field_validator("variables")(_small_variables)


class BatchFields(ContentFields):
    """`recipients` stay raw here: each one is checked on its own, and a bad one is rejected alone."""

    recipients: list[Any]


class BatchStatusFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_ids: list[int] = Field(min_length=1)
