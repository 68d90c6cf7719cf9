"""One consumer of the embedded database queue: claim, run the handler, delete or release."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from bridge.transport.port import BrokerUnavailable, DeliveryTask, TaskHandler

log = logging.getLogger(__name__)

MAX_OUTAGE_WAIT = 5.0  # seconds between claims while the database is unreachable


@dataclass(frozen=True)
class ClaimedEntry:
    """A row this process holds a lease on; ``token`` proves which claim it was."""

    id: int
    body: str
    deliveries: int
    token: str


class LeasedQueue(Protocol):
    """What a consumer needs from the database broker (kept narrow to avoid an import cycle)."""

    poll_interval: float
    lease_seconds: float
    redelivery_delay: float

    async def claim(self, destination: str) -> ClaimedEntry | None: ...

    async def renew(self, entry: ClaimedEntry) -> bool: ...

    async def complete(self, entry: ClaimedEntry) -> None: ...

    async def release(self, entry: ClaimedEntry, delay: float) -> None: ...


class DatabaseConsumer:
    """Claims rows in id order and runs up to ``prefetch`` handlers at once.

    Claims happen one at a time and only when a handler slot is free, so handler start order is
    claim order, and a row is never claimed before this consumer can work on it.
    """

    def __init__(
        self,
        *,
        queue: LeasedQueue,
        destination: str,
        handler: TaskHandler,
        prefetch: int,
        wakeup: asyncio.Event,
        on_cancel: Callable[[DatabaseConsumer], None],
    ) -> None:
        self._queue = queue
        self._destination = destination
        self._handler = handler
        self._slots = asyncio.Semaphore(max(1, prefetch))
        self._wakeup = wakeup
        self._on_cancel = on_cancel
        self._loop: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop = asyncio.create_task(self._claim_forever(), name=f"dbqueue:{self._destination}")
        self._loop.add_done_callback(self._loop_ended)

    def _loop_ended(self, loop: asyncio.Task[None]) -> None:
        """A claim loop that died of a bug must be loud, not a consumer that silently idles."""
        if not loop.cancelled() and loop.exception() is not None:
            log.error(
                "database queue consumer for %r stopped",
                self._destination,
                exc_info=loop.exception(),
            )

    async def cancel(self) -> None:
        """Stop claiming; abandon running handlers and hand their rows back at once."""
        self._on_cancel(self)
        tasks = [t for t in (self._loop, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim_forever(self) -> None:
        while True:
            await self._slots.acquire()
            entry = await self._next_entry()
            task = asyncio.create_task(self._handle(entry))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _next_entry(self) -> ClaimedEntry:
        """Claim a row, waiting for a local publish or the poll interval between tries.

        While the database is down the wait doubles up to :data:`MAX_OUTAGE_WAIT`, so an
        outage costs a few log lines, not five a second.
        """
        failures = 0
        while True:
            # Cleared before the claim, so a publish committed meanwhile is not slept through.
            self._wakeup.clear()
            try:
                entry = await self._claim_uncancelled()
                failures = 0
            except BrokerUnavailable as exc:
                failures += 1
                log.warning("database queue unavailable (try %d): %s", failures, exc)
                entry = None
            if entry is not None:
                return entry
            wait = min(self._queue.poll_interval * 2**failures, MAX_OUTAGE_WAIT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()

    async def _claim_uncancelled(self) -> ClaimedEntry | None:
        """Claim; if cancelled meanwhile, let the claim finish and hand its row straight back.

        Cancelling a database call half-way would leave the row leased by nobody until the
        lease runs out, and the connection stranded outside its pool.
        """
        claim = asyncio.ensure_future(self._queue.claim(self._destination))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(BrokerUnavailable):
                entry = await claim
                if entry is not None:
                    await self._settle(self._queue.release(entry, 0))
            raise

    async def _handle(self, entry: ClaimedEntry) -> None:
        done = asyncio.Event()
        renewing = asyncio.create_task(self._keep_lease(entry, done))
        try:
            await self._run_handler(entry)
        except asyncio.CancelledError:
            await self._settle(self._queue.release(entry, 0))
            raise
        except Exception:
            log.exception(
                "handler failed for queue entry %s (attempt %d); ready again in %s s",
                entry.id,
                entry.deliveries,
                self._queue.redelivery_delay,
            )
            await self._settle(self._queue.release(entry, self._queue.redelivery_delay))
        else:
            await self._settle(self._queue.complete(entry))
        finally:
            # Stopped, not cancelled: a renewal in flight finishes its database call.
            done.set()
            await renewing

    async def _run_handler(self, entry: ClaimedEntry) -> None:
        try:
            task = DeliveryTask.model_validate_json(entry.body)
        except ValidationError as exc:
            # Never dropped: it stays in the table for an operator; retried after the delay.
            raise ValueError(f"queue entry {entry.id} is not a delivery task") from exc
        await self._handler(task)

    async def _keep_lease(self, entry: ClaimedEntry, done: asyncio.Event) -> None:
        """Renew the lease while the handler runs, so a slow handler is not run twice."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._queue.lease_seconds / 3):
                    await done.wait()
            if done.is_set():
                return
            try:
                if not await self._queue.renew(entry):
                    log.warning("lost the lease on queue entry %s; it may run twice", entry.id)
                    return
            except BrokerUnavailable as exc:
                log.warning("could not renew the lease on queue entry %s: %s", entry.id, exc)

    @staticmethod
    async def _settle(call: Awaitable[None]) -> None:
        """Delete or release; if the database is down the lease expires and the row returns."""
        try:
            await call
        except BrokerUnavailable as exc:
            log.warning("could not settle a queue entry (its lease will expire): %s", exc)
