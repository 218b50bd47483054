"""A task queue that only remembers what was enqueued: tests that play the worker themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RecordingQueue:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        self.calls.extend((actor, args) for args in calls)

    async def pending(self, actor: str) -> int:
        return 0

    def of(self, actor: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == actor]
