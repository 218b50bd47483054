"""The route and template of a send, kept for a moment: a burst of single sends on one tenant's
route reads them once, not once a request (two queries and a pool checkout each, the larger part
of a single send's database time in the profile of docs/benchmarks.md).

A template or integration changed through this process is seen by the next send (`forget`); a
change made through another process, within `TTL_SECONDS`. Validation errors are never kept.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the cache sits below the modules it serves, which call `forget`
    from resolvers.integrations import Route
    from resolvers.templates import TemplateRecord

TTL_SECONDS = 2.0
MAX_ENTRIES = 10_000  # beyond, the cache starts over (a bound, not an eviction policy)

# database url, tenant, channel, integration id, sms routing, template key (None: an inline body)
Key = tuple[str, int, str, int | None, str | None, str | None]
_kept: dict[Key, tuple[float, Route, TemplateRecord | None]] = {}


def kept(key: Key) -> tuple[Route, TemplateRecord | None] | None:
    entry = _kept.get(key)
    if entry is None or time.monotonic() - entry[0] >= TTL_SECONDS:
        return None
    return entry[1], entry[2]


def keep(key: Key, route: Route, template: TemplateRecord | None) -> None:
    if len(_kept) >= MAX_ENTRIES:
        _kept.clear()
    _kept[key] = (time.monotonic(), route, template)


def forget(tenant_id: int) -> None:
    """After a write to the tenant's templates or integrations."""
    for key in [key for key in _kept if key[1] == tenant_id]:
        del _kept[key]
