"""Contact input: accepted shapes, normalisation (E.164 phones, validated emails), size caps."""

from __future__ import annotations

from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from resolvers.email_addresses import normalized_email
from resolvers.errors import field_error
from resolvers.validation import bounded_json

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_METADATA_BYTES = 16 * 1024


class ContactFields(BaseModel):
    """The fields of a create or an update; on update only the fields sent are applied."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    last_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_is_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        bounded: dict[str, Any] | None = None if value is None else bounded_json(value, MAX_METADATA_BYTES)
        return bounded

    def combined_name(self) -> str | None:
        """`name`, or `first_name` + `last_name` joined (the compatibility spelling)."""
        if self.name is not None:
            return self.name
        parts = [part for part in (self.first_name, self.last_name) if part]
        if parts or "first_name" in self.model_fields_set or "last_name" in self.model_fields_set:
            return " ".join(parts)
        return None


def normalize_phone(raw: str | None, *, field: str = "phone") -> str | None:
    """E.164 form of an international number; a 422 naming `phone` when it is not one."""
    if raw is None or raw == "":
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise field_error(field, "not a phone number; use international format like +40740111222") from None
    if not phonenumbers.is_valid_number(number):
        raise field_error(field, "not a valid phone number for its country")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_email(raw: str | None, *, field: str = "email") -> str | None:
    """The normalised address, lower-cased so the per-tenant uniqueness ignores case."""
    if raw is None or raw == "":
        return None
    try:
        return normalized_email(raw)
    except EmailNotValidError as error:
        raise field_error(field, str(error)) from None


def normalize_tags(tags: list[str]) -> list[str]:
    """Tags in the order given, without repeats."""
    return list(dict.fromkeys(tags))
