"""A small in-process cache whose entries expire after a fixed number of seconds."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")


class TtlCache(Generic[KeyT, ValueT]):
    """Least-recently-used entries are evicted past `max_entries`; each lives `ttl` seconds."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[KeyT, tuple[float, ValueT]] = OrderedDict()

    def get(self, key: KeyT) -> ValueT | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: KeyT, value: ValueT, *, ttl: float) -> None:
        if ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard_where(self, predicate: Callable[[ValueT], bool]) -> None:
        """Drops every entry whose value satisfies `predicate`."""
        for key in [key for key, (_, value) in self._entries.items() if predicate(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
