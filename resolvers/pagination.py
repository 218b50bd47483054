"""Page arithmetic shared by every list: `page` from 1, `per_page` up to the configured maximum."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Generic, TypeVar

from gateway.settings import Settings
from resolvers.errors import ValidationFailed

ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    page: int
    per_page: int
    total: int

    @property
    def last_page(self) -> int:
        return max(1, ceil(self.total / self.per_page))


def page_request(settings: Settings, *, page: int | None, per_page: int | None) -> PageRequest:
    """Checks bounds; out-of-range values are a 422, never silently clamped."""
    page = 1 if page is None else page
    per_page = settings.default_page_size if per_page is None else per_page
    fields: dict[str, list[str]] = {}
    if page < 1 or page > 1_000_000:
        fields["page"] = ["must be between 1 and 1000000"]
    if per_page < 1 or per_page > settings.max_page_size:
        fields["per_page"] = [f"must be between 1 and {settings.max_page_size}"]
    if fields:
        raise ValidationFailed("invalid pagination", fields=fields)
    return PageRequest(page=page, per_page=per_page)
