"""GroupCommit: callers share a batch and each is answered only after the batch was written."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bridge.service.delivery.group_commit import GroupCommit


class Writer:
    """Records the batches it gets; can be told to fail or to hold a batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_next = False
        self.hold = asyncio.Event()
        self.hold.set()
        self.committed: list[int] = []

    async def write(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.hold.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("commit failed")
        self.committed.extend(items)
        return [item * 10 for item in items]


async def test_concurrent_callers_share_one_batch_and_get_their_own_results() -> None:
    writer = Writer()
    group = GroupCommit(writer.write)
    results = await asyncio.gather(*(group.submit(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert writer.batches == [[0, 1, 2, 3, 4]]
    await group.close()


async def test_callers_arriving_during_a_commit_go_in_the_next_batch() -> None:
    writer = Writer()
    group = GroupCommit(writer.write, max_batch=3)
    writer.hold.clear()
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(group.submit(n)) for n in (2, 3, 4, 5)]
    await asyncio.sleep(0)
    assert not first.done(), "no answer before the batch is written"
    writer.hold.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40, 50]
    assert writer.batches == [[1], [2, 3, 4], [5]]
    await group.close()


async def test_a_failed_batch_fails_every_caller_in_it_and_only_them() -> None:
    writer = Writer()
    group = GroupCommit(writer.write)
    writer.fail_next = True
    outcomes = await asyncio.gather(*(group.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert writer.committed == []
    assert await group.submit(7) == 70, "the writer goes on after a failed batch"
    await group.close()


async def test_a_writer_returning_the_wrong_number_of_results_leaves_nobody_waiting() -> None:
    async def broken(items: Sequence[int]) -> list[int]:
        return [1]

    group = GroupCommit(broken)
    outcomes = await asyncio.gather(*(group.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    await group.close()


async def test_a_caller_that_gives_up_does_not_cancel_the_batch_of_the_others() -> None:
    writer = Writer()
    group = GroupCommit(writer.write)
    writer.hold.clear()
    impatient = asyncio.create_task(group.submit(1))
    patient = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    writer.hold.set()
    assert await patient == 20
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert writer.committed == [1, 2], "the batch was written whole"
    await group.close()


async def test_close_cancels_callers_still_waiting() -> None:
    writer = Writer()
    group = GroupCommit(writer.write)
    writer.hold.clear()
    waiting = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(group.close())
    await asyncio.sleep(0.01)
    writer.hold.set()
    await closing
    assert waiting.done()
