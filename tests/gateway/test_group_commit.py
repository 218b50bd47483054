"""Group commit: batches of what arrived meanwhile, several writers at once, nobody left waiting."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.db import Database
from gateway.group_commit import GroupCommit

NO_DATABASE: Any = None  # write_many below never touches it


async def test_a_write_right_after_the_writer_went_idle_is_written() -> None:
    async def echo(_db: Database, items: list[int]) -> list[int | BaseException]:
        return list(items)

    writer = GroupCommit(NO_DATABASE, echo, batch_size=10)

    assert await writer.submit(1) == 1
    # The writer has just finished; its done-callbacks have not run yet.
    assert await asyncio.wait_for(writer.submit(2), 1) == 2


async def test_writes_that_arrive_together_share_batches_of_up_to_concurrency_writers() -> None:
    batches: list[list[int]] = []
    in_flight = 0
    most_in_flight = 0

    async def slow(_db: Database, items: list[int]) -> list[int | BaseException]:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        batches.append(list(items))
        await asyncio.sleep(0.05)
        in_flight -= 1
        return [item * 10 if item != 7 else ValueError("refused") for item in items]

    writer = GroupCommit(NO_DATABASE, slow, batch_size=4, concurrency=2)

    outcomes = await asyncio.gather(*(writer.submit(item) for item in range(12)), return_exceptions=True)

    assert outcomes[:7] == [0, 10, 20, 30, 40, 50, 60]
    assert isinstance(outcomes[7], ValueError)
    assert outcomes[8:] == [80, 90, 100, 110]
    assert most_in_flight == 2
    assert sorted(item for batch in batches for item in batch) == list(range(12))
    assert max(len(batch) for batch in batches) <= 4


async def test_items_submitted_together_are_answered_each_with_its_outcome_or_error() -> None:
    batches: list[list[int]] = []

    async def halve(_db: Database, items: list[int]) -> list[int | BaseException]:
        batches.append(list(items))
        return [item // 2 if item % 2 == 0 else ValueError(f"{item} is odd") for item in items]

    writer = GroupCommit(NO_DATABASE, halve, batch_size=3)

    first, second = await asyncio.gather(writer.submit_many([2, 4, 5, 6]), writer.submit_many([8]))

    assert first[:2] == [1, 2]
    assert isinstance(first[2], ValueError)
    assert first[3] == 3
    assert second == [4]
    assert batches == [[2, 4, 5], [6, 8]]  # what came meanwhile shares the next batch


async def test_a_failed_batch_is_written_again_item_by_item_when_asked() -> None:
    batches: list[list[int]] = []

    async def refuse_seven(_db: Database, items: list[int]) -> list[int | BaseException]:
        batches.append(list(items))
        if 7 in items:
            raise ValueError("refused")
        return [item * 10 for item in items]

    alone = GroupCommit(NO_DATABASE, refuse_seven, batch_size=3, each_alone_on_error=True)
    together = GroupCommit(NO_DATABASE, refuse_seven, batch_size=3)

    outcomes = await alone.submit_many([6, 7, 8])
    shared = await together.submit_many([6, 7, 8])

    assert outcomes[0] == 60
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == 80
    assert batches[:4] == [[6, 7, 8], [6], [7], [8]]
    assert all(isinstance(outcome, ValueError) for outcome in shared)  # the default: one error for all
