"""The sandbox's receipts travel in groups: one broker message per turn of the worker's loop
(tests/resolvers/test_receipt_batches.py applies such a group)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from resolvers.receipts import RECEIPTS_ACTOR
from workers.providers.receipt_outbox import ReceiptOutbox


class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, list[tuple[Any, ...]], int | None]] = []

    async def enqueue(
        self, actor: str, calls: Sequence[tuple[Any, ...]], *, delay_ms: int | None = None
    ) -> None:
        self.enqueued.append((actor, list(calls), delay_ms))

    async def pending(self, actor: str) -> int:
        return 0


async def test_the_receipts_of_one_turn_go_as_one_message() -> None:
    queue = RecordingQueue()
    outbox = ReceiptOutbox(queue, delay_ms=200)

    await asyncio.gather(*(outbox.post(("sandbox", f"SB{n}", "delivered", None, None)) for n in range(50)))
    await outbox.post(("sandbox", "SBlate", "undelivered", "30005", "unknown handset"))

    assert [(actor, len(calls), delay) for actor, calls, delay in queue.enqueued] == [
        (RECEIPTS_ACTOR, 1, 200),
        (RECEIPTS_ACTOR, 1, 200),
    ]
    [(first_group,)], [(second_group,)] = (calls for _, calls, _ in queue.enqueued)
    assert [receipt[1] for receipt in first_group] == [f"SB{n}" for n in range(50)]
    assert second_group == [("sandbox", "SBlate", "undelivered", "30005", "unknown handset")]
