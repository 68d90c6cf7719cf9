"""Group commit: concurrent callers share one database transaction, each answered after it.

A database commit costs a round trip, a lock on the audit chain's head and an fsync whatever it
carries; with one transaction per notice those fixed costs were most of a notice's price (issue
10). :class:`GroupCommit` queues what callers :meth:`~GroupCommit.submit`, and one writer task
hands everything queued so far (up to ``max_batch``) to ``write_batch``, which writes it all in
one transaction. Each caller's future is resolved only after ``write_batch`` returned, i.e.
after the commit, so "accepted means durable" holds per caller: a crash or an error before the
commit fails every caller of that batch, and none of them was told "accepted".

There is no waiting for a batch to fill: the writer takes what arrived while the previous
commit was in progress, so a lone caller pays no extra latency and a burst is carried in
batches about as large as the number of concurrent callers (PostgreSQL's own group commit
works the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

BatchWriter = Callable[[Sequence[Item]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Item, Result]):
    """One writer task per instance; :meth:`submit` from any task of the same event loop."""

    def __init__(self, write_batch: BatchWriter[Item, Result], *, max_batch: int = 64) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[Sequence[Result]] | None = None
        self.batches = 0  # batches written (committed or failed), and the items they carried
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Queue ``item``; return its result once the batch that carried it is committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._ready.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="group-commit")
        return await future

    async def close(self) -> None:
        """Stop the writer; callers still waiting get :class:`asyncio.CancelledError`."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def _write_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        # Shielded: a caller that gives up (its connection closed) must not cancel the batch
        # other callers are waiting on half-way through its commit.
        self._writing = writing = asyncio.create_task(
            _call(self._write_batch, [item for item, _ in batch])
        )
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            # The writer itself is being stopped: let the batch finish or fail, then answer.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writing
            _settle(batch, writing)
            raise
        except Exception as failure:
            log.debug("group commit of %d failed: %s", len(batch), type(failure).__name__)
        _settle(batch, writing)


async def _call(write_batch: BatchWriter[Item, Result], items: list[Item]) -> Sequence[Result]:
    return await write_batch(items)


def _settle(
    batch: list[tuple[Item, asyncio.Future[Result]]], writing: asyncio.Task[Sequence[Result]]
) -> None:
    """Answer every caller of the batch: its result, or the batch's error. Nobody is left
    waiting, whatever went wrong."""
    error: BaseException | None = None
    results: Sequence[Result] = ()
    if not writing.done() or writing.cancelled():
        error = asyncio.CancelledError()
    elif writing.exception() is not None:
        error = writing.exception()
    else:
        results = writing.result()
        if len(results) != len(batch):
            error = RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
    for index, (_, future) in enumerate(batch):
        if future.done():
            continue
        if isinstance(error, asyncio.CancelledError):
            future.cancel()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(results[index])
