"""The sandbox's receipts, posted in groups: one broker message for every receipt of a loop turn.

A group send hands its 50 messages to the sandbox in one turn of the worker's loop. Posting each
receipt as a broker message of its own cost a Dramatiq round (delay queue, consumer, worker thread,
hop to the actor loop) and a transaction per message; the receipts of one turn now travel as one
`apply_receipts` message and are applied in one transaction, as a provider that batches its status
callbacks (WhatsApp Cloud's webhook carries several) would have them.
"""

from __future__ import annotations

import asyncio

from gateway.queue import TaskQueue
from resolvers.receipt_batches import ReceiptCall
from resolvers.receipts import RECEIPTS_ACTOR

MAX_GROUP = 500  # receipts in one broker message


class ReceiptOutbox:
    """Collects receipts posted on one event loop; `post` returns once its receipt is enqueued."""

    def __init__(self, queue: TaskQueue, *, delay_ms: int) -> None:
        self.queue = queue
        self.delay_ms = delay_ms
        self._waiting: list[ReceiptCall] = []
        self._flush: asyncio.Task[None] | None = None

    async def post(self, receipt: ReceiptCall) -> None:
        self._waiting.append(receipt)
        flush = self._flush
        if flush is None or flush.done():
            flush = self._flush = asyncio.get_running_loop().create_task(self._enqueue_waiting())
        await asyncio.shield(flush)  # a cancelled sender does not cancel the others' receipts

    async def _enqueue_waiting(self) -> None:
        await asyncio.sleep(0)  # the rest of the turn's sends post theirs first
        self._flush = None  # receipts posted from here on go in the next group
        waiting, self._waiting = self._waiting, []
        groups = [(waiting[start : start + MAX_GROUP],) for start in range(0, len(waiting), MAX_GROUP)]
        await self.queue.enqueue(RECEIPTS_ACTOR, groups, delay_ms=self.delay_ms)
