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
from datetime import timedelta

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import aliased

from bridge.service.clock import Clock
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow, MessageRow
from bridge.transport.port import Broker, BrokerUnavailable, DeliveryTask

log = logging.getLogger(__name__)

SETTLED = ("delivered", "discarded")  # not "dead": a dead letter holds later notices back
IN_PROGRESS = ("queued", "in_flight")


class Relay:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        clock: Clock,
        *,
        lease_seconds: float = 60.0,
        batch: int = 100,
    ) -> None:
        self._db = db
        self._broker = broker
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch
        self.wakeup = asyncio.Event()

    async def run(self, interval: float) -> None:
        """Relay forever; wakes at once when an accept sets :attr:`wakeup`."""
        while True:
            try:
                released = await self.relay_once()
            except (OperationalError, DBAPIError, OSError, BrokerUnavailable) as error:
                log.warning("relay paused: %s", type(error).__name__)
                released = 0
            if released >= self._batch:
                continue
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)

    async def relay_once(self) -> int:
        await self._expire_leases()
        tasks = await self._claim()
        for task in tasks:
            try:
                await self._broker.publish(task)
            except BrokerUnavailable:
                await self._unclaim([t.delivery_id for t in tasks[tasks.index(task) :]])
                raise
        return len(tasks)

    async def _claim(self) -> list[DeliveryTask]:
        now = self._clock.now()
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
            .limit(self._batch)
        )
        if not self._db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=DeliveryRow)
        async with self._db.session() as session, session.begin():
            rows = (await session.execute(query)).all()
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

    async def _unclaim(self, delivery_ids: list[str]) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(delivery_ids), DeliveryRow.status == "queued")
                .values(status="pending", lease_until=None)
            )

    async def _expire_leases(self) -> None:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.status.in_(IN_PROGRESS), DeliveryRow.lease_until < now)
                .values(status="pending", lease_until=None, updated_at=now)
            )
        expired = getattr(result, "rowcount", 0) or 0
        if expired:
            log.warning("released %d deliveries whose lease ran out", expired)
