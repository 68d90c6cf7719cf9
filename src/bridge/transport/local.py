"""In-process dispatch: the relay hands released deliveries straight to this process's workers.

Used when no RabbitMQ is configured (the embedded default, or PostgreSQL alone). There the
outbox table already *is* the durable queue: a released row is ``queued`` with a lease, and if
this process dies before its worker settles the row, the lease runs out and the relay (of this
process after a restart, or of another process sharing the database) releases it again. A
second durable queue in the same database (the old ``queue_entries`` table) only added two
commits per notice and no durability the outbox did not already give (issue 10).

This adapter therefore keeps the broker port's shape but not its durability: a task lives in
memory. The relay never hands it more than :meth:`LocalDispatch.room` allows, so no task waits
here long enough for its row's lease to run out. Parallel across patients, each patient's
deliveries still one at a time: the relay releases only the first unsettled delivery of a
patient and destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bridge.transport.port import DeliveryTask, TaskHandler

log = logging.getLogger(__name__)


class _Stopped:
    async def cancel(self) -> None:
        return None


class LocalDispatch:
    """The broker port inside one process: ``publish`` starts the destination's handler."""

    name = "local"

    def __init__(self, *, concurrency: int = 32) -> None:
        self._concurrency = concurrency
        self._handlers: dict[str, TaskHandler] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        """Abandon running handlers: their rows' leases bring them back."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()
        self._handlers.clear()

    async def declare(self, destination: str) -> None:
        return None

    def room(self) -> int:
        """How many more deliveries may start now.

        While deliveries run, room is offered only once a quarter of the slots is free, so the
        relay releases (and the workers claim) in batches rather than one row per settled
        delivery: each release is a transaction, and on SQLite an fsync.
        """
        free = self._concurrency - len(self._running)
        if self._running and free < max(1, self._concurrency // 4):
            return 0
        return free

    async def publish(self, task: DeliveryTask) -> None:
        handler = self._handlers.get(task.destination)
        if handler is None:
            # Nobody here delivers to it (deliver=False): the row's lease brings it back.
            log.debug("no local worker for %s; task left to its lease", task.destination)
            return
        running = asyncio.create_task(self._run(handler, task), name=f"deliver:{task.delivery_id}")
        self._running.add(running)
        running.add_done_callback(self._running.discard)

    async def consume(self, destination: str, handler: TaskHandler, prefetch: int = 8) -> _Stopped:
        self._handlers[destination] = handler
        return _Stopped()

    async def depth(self, destination: str) -> int:
        """Tasks wait nowhere here: the relay releases only what can start at once."""
        return 0

    async def ping(self) -> bool:
        return True

    @staticmethod
    async def _run(handler: TaskHandler, task: DeliveryTask) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await handler(task)
            except Exception:
                # The database stayed away longer than the worker waits: the row keeps its
                # lease and is released again when it runs out.
                log.exception("delivery %s not settled; its lease brings it back", task.delivery_id)
