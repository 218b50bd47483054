"""Scalars shared by the schema: timestamps as ISO 8601 UTC with a `Z`, exactly as REST prints them."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a timestamp needs a timezone, e.g. 2026-04-01T10:00:00Z")
    return parsed.astimezone(UTC)


DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 timestamp in UTC, such as 2026-04-01T10:00:00Z.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
