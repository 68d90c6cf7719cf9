"""Delivery worker: take a task from the broker, send the outbox row, record the outcome.

The broker task is only a pointer; the outbox row is the truth. A task for a row that is already
delivered, or being delivered by another worker, is dropped. Each attempt is recorded, with its
outcome, in ``delivery_attempts`` and the audit log, in the same transaction as the new state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.connectors.port import Connector, OutboundMessage, Outcome, SendResult
from bridge.domain.routing import RoutingTable
from bridge.logging_setup import correlation_id
from bridge.service import audit
from bridge.service.backoff import RetryPolicy
from bridge.service.clock import Clock
from bridge.store.db import Database
from bridge.store.tables import DeliveryAttemptRow, DeliveryRow
from bridge.transport.port import DeliveryTask

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        connectors: dict[str, Connector],
        clock: Clock,
        policy: RetryPolicy,
        *,
        lease_seconds: float = 60.0,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._routing = routing
        self._connectors = connectors
        self._clock = clock
        self._policy = policy
        self._lease = timedelta(seconds=lease_seconds)
        self._on_settled = on_settled

    async def handle(self, task: DeliveryTask) -> None:
        """Broker handler: returning acks the task; raising (database down) requeues it."""
        correlation_id.set(task.correlation_id)
        row = await self._claim(task.delivery_id)
        if row is None:
            return
        destination = self._routing.destination(row.destination)
        started = self._clock.now()
        result = await self._connectors[destination.transport.value].send(
            OutboundMessage(
                destination=destination,
                content_type=row.content_type,
                body=row.payload,
                idempotency_key=row.idempotency_key,
                correlation_id=task.correlation_id,
            )
        )
        await self._record(row, result, started)

    async def _claim(self, delivery_id: str) -> DeliveryRow | None:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            claimed = await session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == delivery_id,
                    or_(
                        DeliveryRow.status == "queued",
                        (DeliveryRow.status == "in_flight") & (DeliveryRow.lease_until < now),
                    ),
                )
                .values(
                    status="in_flight",
                    attempts=DeliveryRow.attempts + 1,
                    lease_until=now + self._lease,
                    updated_at=now,
                )
            )
            if not getattr(claimed, "rowcount", 0):
                return None
            return await session.scalar(select(DeliveryRow).where(DeliveryRow.id == delivery_id))

    async def _record(self, row: DeliveryRow, result: SendResult, started: datetime) -> None:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            session.add(
                DeliveryAttemptRow(
                    delivery_id=row.id,
                    attempt=row.attempts,
                    started_at=started,
                    finished_at=now,
                    outcome=result.outcome.value,
                    status_code=result.status_code,
                    error=result.error,
                )
            )
            status, next_at = self._next_state(row, result)
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == row.id)
                .values(
                    status=status,
                    next_attempt_at=next_at or row.next_attempt_at,
                    lease_until=None,
                    updated_at=now,
                    last_error=result.error,
                    delivered_at=now if status == "delivered" else None,
                )
            )
            self._audit(session, row, result, status)
        self._log(row, result, status)
        if self._on_settled is not None:
            self._on_settled()

    def _next_state(self, row: DeliveryRow, result: SendResult) -> tuple[str, datetime | None]:
        if result.outcome is Outcome.DELIVERED:
            return "delivered", None
        if result.outcome is Outcome.PERMANENT or self._policy.gives_up_after(row.attempts):
            return "dead", None
        delay = self._policy.delay(row.attempts)
        return "pending", self._clock.now() + timedelta(seconds=delay)

    def _audit(
        self, session: AsyncSession, row: DeliveryRow, result: SendResult, status: str
    ) -> None:
        action = {"delivered": "delivered", "dead": "dead_lettered"}.get(status, "attempt_failed")
        audit.record(
            session,
            at=self._clock.now(),
            action=action,
            message_id=row.message_id,
            delivery_id=row.id,
            destination=row.destination,
            attempt=row.attempts,
            outcome=result.outcome.value,
            status_code=result.status_code,
            error=result.error,
        )

    @staticmethod
    def _log(row: DeliveryRow, result: SendResult, status: str) -> None:
        if status == "delivered":
            log.info("delivered %s to %s (attempt %d)", row.id, row.destination, row.attempts)
        else:
            log.warning(
                "delivery %s to %s attempt %d failed (%s): %s -> %s",
                row.id,
                row.destination,
                row.attempts,
                result.outcome.value,
                result.error,
                status,
            )
