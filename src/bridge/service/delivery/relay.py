"""Relay: move due outbox rows to the broker, one in flight per patient and destination.

A delivery is released only when every earlier delivery for the same patient and destination
has been delivered (or discarded by an operator), so a discharge never overtakes its admission
even while the admission is being retried (guarantee 4); other patients keep flowing.
Rows whose lease ran out (a process died between claiming and finishing) are released again.
A row handed to the broker is leased for long (``queue_lease_seconds``): its task is durable in
the broker, and a short lease would release the row again while its task still waits in a deep
queue, doubling the work exactly when the bridge is behind.

A dead letter is deliberately *not* settled: a patient's dead-lettered admission holds that
patient's later notices for the same destination back until an operator replays it (it goes
first, then the held ones, in order) or discards it with a reason (the held ones go on). A
discharge notice arriving at a municipality that never got the admission is worse than a late
pair; the dead-letter alert and the ``held_back`` count in the dead-letter list make the wait
visible (docs/delivery.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import aliased

from bridge.service.clock import Clock
from bridge.service.delivery.destination_health import DestinationHealth
from bridge.service.delivery.pauses import paused_destinations
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow, MessageRow
from bridge.transport.port import BrokerUnavailable, DeliveryTask

log = logging.getLogger(__name__)

SETTLED = ("delivered", "discarded")  # not "dead": a dead letter holds later notices back
IN_PROGRESS = ("queued", "in_flight")
LEASE_CHECK_EVERY = timedelta(seconds=1)


class TaskSink(Protocol):
    """Where released deliveries go: the broker, or this process's own delivery workers."""

    def room(self) -> int | None:
        """How many more tasks it takes now; None: as many as the outbox allows."""

    async def publish(self, task: DeliveryTask) -> None: ...


class Relay:
    """Release due outbox rows in batches; publish a batch's tasks concurrently.

    ``max_queued`` bounds the deliveries handed over and not yet taken by a worker, across all
    processes: a deep queue would hold tasks past their lease (``queue_lease_seconds``), the
    rows would be released again and the work done twice (issue 10's backlog defect).
    """

    def __init__(
        self,
        db: Database,
        sink: TaskSink,
        clock: Clock,
        *,
        lease_seconds: float = 60.0,
        batch: int = 200,
        max_queued: int = 2000,
        health: DestinationHealth | None = None,
        destinations: Sequence[str] = (),
    ) -> None:
        self._db = db
        self._sink = sink
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch
        self._max_queued = max_queued
        self._health = health or DestinationHealth()
        self._destinations = tuple(destinations)
        self._next_lease_check: datetime | None = None
        self._paused: set[str] = set()
        self._next_pause_check: datetime | None = None
        self.wakeup = asyncio.Event()

    async def run(self, interval: float) -> None:
        """Relay forever; wakes at once when an accept or a settled delivery sets :attr:`wakeup`.

        The event is cleared *before* a pass, so a wake-up that arrives during the pass makes
        the next pass start at once instead of being lost until the interval runs out.
        """
        while True:
            self.wakeup.clear()
            try:
                released, full = await self.relay_once()
            except (OperationalError, DBAPIError, OSError, BrokerUnavailable) as error:
                log.warning("relay paused: %s", type(error).__name__)
                released, full = 0, False
            if released and not full:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)

    async def relay_once(self) -> tuple[int, bool]:
        """One pass: returns how many were released and whether the sink is full."""
        await self._expire_leases()
        room = await self._room()
        if room <= 0:
            return 0, True
        tasks = await self._claim(min(room, self._batch))
        if not tasks:
            return 0, False
        outcomes = await asyncio.gather(
            *(self._sink.publish(task) for task in tasks), return_exceptions=True
        )
        failed = [t for t, outcome in zip(tasks, outcomes, strict=True) if outcome is not None]
        if failed:
            await self._unclaim([t.delivery_id for t in failed])
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            if not all(isinstance(e, BrokerUnavailable) for e in errors):
                raise next(e for e in errors if not isinstance(e, BrokerUnavailable))
            raise BrokerUnavailable(f"{len(failed)} of {len(tasks)} tasks not published")
        return len(tasks), False

    async def _room(self) -> int:
        local = self._sink.room()
        if local is not None:
            return local
        async with self._db.session() as session:
            queued = await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "queued")
            )
        return self._max_queued - int(queued or 0)

    async def _claim(self, limit: int) -> list[DeliveryTask]:
        """Mark up to ``limit`` due rows ``queued``: each the first unsettled one of its patient
        and destination, none of a destination whose breaker is open but one probe."""
        now = self._clock.now()
        paused = await self._paused_now(now)
        waiting, probes = self._health.held_back(now)
        waiting, probes = waiting | paused, probes - paused
        if not waiting:
            queries = [self._due(now, limit)]
        else:
            # One query per destination still flowing (its own index), none scanning the
            # backlog of the one that is down: that scan, once per accepted batch, made a
            # large backlog slow down accepting.
            queries = [
                self._due(now, limit).where(DeliveryRow.destination == name)
                for name in self._destinations
                if name not in waiting
            ]
        queries += [self._due(now, 1).where(DeliveryRow.destination == name) for name in probes]
        async with self._db.session() as session, session.begin():
            rows = [row for query in queries for row in (await session.execute(query)).all()]
            if not rows:
                return []
            await session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id.in_([row.id for row in rows]), DeliveryRow.status == "pending"
                )
                .values(status="queued", lease_until=now + self._lease, updated_at=now)
            )
        return [
            DeliveryTask(
                delivery_id=row.id,
                destination=row.destination,
                idempotency_key=row.idempotency_key,
                correlation_id=row.correlation_id,
            )
            for row in rows
        ]

    def use_destinations(self, destinations: Sequence[str]) -> None:
        """The destinations of a reloaded routing file."""
        self._destinations = tuple(destinations)

    def pauses_changed(self) -> None:
        """A destination was paused or resumed in this process: look again, now."""
        self._next_pause_check = None
        self.wakeup.set()

    async def _paused_now(self, now: datetime) -> set[str]:
        """Destinations an operator paused (service/delivery/pauses.py), looked up at most once
        a second (a pause or resume in another process takes effect within about a second)."""
        if self._next_pause_check is None or now >= self._next_pause_check:
            async with self._db.session() as session:
                self._paused = await paused_destinations(session)
            self._next_pause_check = now + LEASE_CHECK_EVERY
        return self._paused

    def _due(self, now: datetime, limit: int) -> Select[str, str, str, str]:
        earlier = aliased(DeliveryRow)
        blocked = exists().where(
            and_(
                earlier.destination == DeliveryRow.destination,
                earlier.patient_key == DeliveryRow.patient_key,
                earlier.seq < DeliveryRow.seq,
                earlier.status.not_in(SETTLED),
            )
        )
        query = (
            select(
                DeliveryRow.id,
                DeliveryRow.destination,
                DeliveryRow.idempotency_key,
                MessageRow.correlation_id,
            )
            .join(MessageRow, MessageRow.id == DeliveryRow.message_id)
            .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now, ~blocked)
            .order_by(DeliveryRow.next_attempt_at)
            .limit(limit)
        )
        if not self._db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=DeliveryRow)
        return query

    async def _unclaim(self, delivery_ids: list[str]) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(delivery_ids), DeliveryRow.status == "queued")
                .values(status="pending", lease_until=None)
            )

    async def _expire_leases(self) -> None:
        """Release rows whose lease ran out: at most once a second, since leases last minutes
        and a pass runs after every accepted batch."""
        now = self._clock.now()
        if self._next_lease_check is not None and now < self._next_lease_check:
            return
        self._next_lease_check = now + LEASE_CHECK_EVERY
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.status.in_(IN_PROGRESS), DeliveryRow.lease_until < now)
                .values(status="pending", lease_until=None, updated_at=now)
            )
        expired = getattr(result, "rowcount", 0) or 0
        if expired:
            log.warning("released %d deliveries whose lease ran out", expired)
