"""Delivery worker: take a task from the broker, send the outbox row, record the outcome.

The broker task is only a pointer; the outbox row is the truth. A task for a row that is already
delivered, or being delivered by another worker, is dropped. Each attempt is recorded, with its
outcome, in ``delivery_attempts`` and the audit log, in the same transaction as the new state.

Outcomes, per the destination's retry policy
(:class:`~bridge.service.delivery.backoff.RetryPolicy`):
delivered → ``delivered`` (and ``awaiting`` a receipt when the destination sends receipts);
transient → ``pending`` again after exponential backoff with jitter, until the maximum age
(attempts are not counted against it); permanent, or out of age → ``dead`` with its
:class:`DeadReason`, and one alert per destination and cause (``dead-letters:<destination>:
<reason>``), never one per notice or attempt.

The claim is fenced by the attempt number: a worker that lost its row (its lease ran out and
another worker took it over) records its attempt but changes no state.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from bridge.connectors.port import Connector, OutboundMessage, Outcome, SendResult
from bridge.domain.routing import Destination, RoutingTable
from bridge.logging_setup import correlation_id
from bridge.service.clock import Clock
from bridge.service.delivery.backoff import GiveUp, RetryPolicy
from bridge.service.delivery.dead_letters import DeadReason
from bridge.service.delivery.delivery_alerts import alert_dead_letters
from bridge.service.delivery.destination_health import DestinationHealth
from bridge.service.delivery.group_commit import GroupCommit
from bridge.service.delivery.receipts import ReceiptState
from bridge.service.operations import audit
from bridge.store.db import Database, core
from bridge.store.tables import (
    DeliveryAttemptRow,
    DeliveryRow,
    DestinationPauseRow,
    table_of,
)
from bridge.transport.port import DeliveryTask

log = logging.getLogger(__name__)

DB_FAILURES = (OperationalError, DBAPIError, OSError)
T = TypeVar("T")


@dataclass(frozen=True)
class _Finished:
    """One attempt, sent and waiting to be recorded."""

    row: DeliveryRow
    result: SendResult
    started: datetime


@dataclass(frozen=True)
class NextState:
    status: str
    next_attempt_at: datetime | None = None
    dead_reason: DeadReason | None = None


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        connectors: Mapping[str, Connector],
        clock: Clock,
        policies: Mapping[str, RetryPolicy],
        *,
        lease_seconds: float = 60.0,
        receipt_timeouts: Mapping[str, float | None] | None = None,
        on_settled: Callable[[], None] | None = None,
        on_alert: Callable[[], None] | None = None,
        health: DestinationHealth | None = None,
    ) -> None:
        self._db = db
        self._routing = routing
        self._connectors = connectors
        self._clock = clock
        self._policies = policies
        self._lease = timedelta(seconds=lease_seconds)
        self._receipt_timeouts = receipt_timeouts or {}
        self._on_settled = on_settled
        self._on_alert = on_alert
        self._health = health or DestinationHealth()
        # Concurrent deliveries share their claim and their record transactions.
        self._claims: GroupCommit[str, DeliveryRow | None] = GroupCommit(self._claim_batch)
        self._records: GroupCommit[_Finished, bool] = GroupCommit(self._record_batch)

    def use_routing(
        self,
        routing: RoutingTable,
        policies: Mapping[str, RetryPolicy],
        receipt_timeouts: Mapping[str, float | None],
    ) -> None:
        """Deliver by a reloaded routing file from now on (one synchronous swap)."""
        self._routing = routing
        self._policies = policies
        self._receipt_timeouts = receipt_timeouts

    async def close(self) -> None:
        await self._claims.close()
        await self._records.close()

    async def handle(self, task: DeliveryTask) -> None:
        """Broker handler: returning acks the task; raising (database down) requeues it."""
        correlation_id.set(task.correlation_id)
        row = await self._surviving_outages(lambda: self._claims.submit(task.delivery_id))
        if row is None:
            return
        started = self._clock.now()
        try:
            destination = self._routing.destination(row.destination)
        except KeyError:
            result = SendResult(
                Outcome.PERMANENT, error=f"destination {row.destination!r} is not in the routing"
            )
        else:
            result = await self._send(destination, row, task)
        finished = _Finished(row, result, started)
        await self._surviving_outages(lambda: self._records.submit(finished))

    async def _send(
        self, destination: Destination, row: DeliveryRow, task: DeliveryTask
    ) -> SendResult:
        try:
            return await self._connectors[destination.transport.value].send(
                OutboundMessage(
                    destination=destination,
                    content_type=row.content_type,
                    body=row.payload,
                    idempotency_key=row.idempotency_key,
                    correlation_id=task.correlation_id,
                )
            )
        except Exception as error:
            # A connector bug must not strand the row in flight: count it as transient.
            log.exception("connector failed on delivery %s", row.id)
            return SendResult(Outcome.TRANSIENT, error=f"connector error: {type(error).__name__}")

    async def _claim_batch(self, delivery_ids: Sequence[str]) -> list[DeliveryRow | None]:
        """Claim rows still waiting (or whose worker's lease ran out), in one statement.

        A task whose row is already delivered, or held by a live worker, gets None: a stale
        or repeated task is dropped. Two tasks for one row in a batch: the first gets it. A task
        of a paused destination is dropped too: its row goes back to waiting, and the relay
        holds it until the destination is resumed.
        """
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            claimed = await session.scalars(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id.in_(set(delivery_ids)),
                    DeliveryRow.destination.not_in(select(DestinationPauseRow.destination)),
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
                .returning(DeliveryRow),
                execution_options={"synchronize_session": False},
            )
            rows = {row.id: row for row in claimed.all()}
            # A task of a paused destination: its row waits again at once (not until its queue
            # lease runs out), so a resume lets it go straight away.
            missing = set(delivery_ids) - set(rows)
            if missing:
                await session.execute(
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.id.in_(missing),
                        DeliveryRow.status == "queued",
                        DeliveryRow.destination.in_(select(DestinationPauseRow.destination)),
                    )
                    .values(status="pending", lease_until=None, updated_at=now),
                    execution_options={"synchronize_session": False},
                )
        return [rows.pop(delivery_id, None) for delivery_id in delivery_ids]

    async def _surviving_outages(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a database step, retrying through a short outage (a database restart).

        Recording an outcome late is safe: the update is fenced by status and attempt number,
        so if the lease ran out and the row moved on meanwhile, it changes nothing. Recording it
        at all saves sending the notice again. If the database stays away longer, raising
        requeues the task and the lease brings the row back; the idempotency key makes the
        re-send harmless.
        """
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(self._lease.total_seconds()),
            wait=wait_exponential(multiplier=0.2, max=3),
            retry=retry_if_exception_type(DB_FAILURES),
            reraise=True,
        ):
            with attempt:
                return await step()
        raise AssertionError("unreachable: AsyncRetrying re-raises")

    async def _record_batch(self, batch: Sequence[_Finished]) -> list[bool]:
        """Record finished attempts and their rows' new states in one transaction.

        Fenced by status and attempt number: a worker that lost its row (its lease ran out and
        another took it over) records its attempt but changes nothing else. Returns, per
        attempt, whether it changed its row.
        """
        now = self._clock.now()
        plans = [(f, self._next_state(f.row, f.result, now)) for f in batch]
        async with self._db.session() as session, session.begin():
            await core(
                session,
                insert(table_of(DeliveryAttemptRow)),
                [
                    {
                        "delivery_id": f.row.id,
                        "attempt": f.row.attempts,
                        "started_at": f.started,
                        "finished_at": now,
                        "outcome": f.result.outcome.value,
                        "status_code": f.result.status_code,
                        "error": f.result.error,
                    }
                    for f in batch
                ],
            )
            held = await self._still_held(session, [f.row for f in batch])
            valid = [(f, state) for f, state in plans if (f.row.id, f.row.attempts) in held]
            await self._apply(session, valid, now)
            for f, state in valid:
                self._audit(session, f.row, f.result, state)
            alert_dead_letters(
                session,
                [(f.row, f.result, s.dead_reason) for f, s in valid if s.dead_reason is not None],
                now,
            )
        for f in batch:
            self._health.record(f.row.destination, f.result.outcome, now)
        changed = {f.row.id for f, _ in valid}
        for f, state in plans:
            if f.row.id in changed:
                self._log(f.row, f.result, state)
            else:
                log.warning(
                    "delivery %s attempt %d finished after another worker took it over",
                    f.row.id,
                    f.row.attempts,
                )
        if valid and self._on_settled is not None:
            self._on_settled()
        if self._on_alert is not None and any(s.dead_reason for _, s in valid):
            self._on_alert()
        return [f.row.id in changed for f in batch]

    async def _still_held(
        self, session: AsyncSession, rows: Sequence[DeliveryRow]
    ) -> set[tuple[str, int]]:
        """(id, attempt) of the rows still in flight under the attempt that claimed them."""
        query = select(DeliveryRow.id, DeliveryRow.attempts).where(
            DeliveryRow.id.in_({row.id for row in rows}), DeliveryRow.status == "in_flight"
        )
        if not self._db.is_sqlite:
            query = query.with_for_update()
        return {(row[0], row[1]) for row in await core(session, query)}

    async def _apply(
        self, session: AsyncSession, valid: Sequence[tuple[_Finished, NextState]], now: datetime
    ) -> None:
        """Delivered rows of one destination share one UPDATE; the others one each."""
        delivered: dict[str, list[str]] = defaultdict(list)
        for f, state in valid:
            if state.status == "delivered":
                delivered[f.row.destination].append(f.row.id)
                continue
            await core(
                session,
                update(table_of(DeliveryRow))
                .where(
                    DeliveryRow.id == f.row.id,
                    DeliveryRow.status == "in_flight",
                    DeliveryRow.attempts == f.row.attempts,
                )
                .values(**self._values(f.row, f.result, state, now)),
            )
        for destination, ids in delivered.items():
            await core(
                session,
                update(table_of(DeliveryRow))
                .where(DeliveryRow.id.in_(ids), DeliveryRow.status == "in_flight")
                .values(**self._delivered_values(destination, now)),
            )

    def _next_state(self, row: DeliveryRow, result: SendResult, now: datetime) -> NextState:
        if result.outcome is Outcome.DELIVERED:
            return NextState("delivered")
        if result.outcome is Outcome.PERMANENT:
            return NextState("dead", dead_reason=DeadReason.PERMANENT)
        policy = self._policies.get(row.destination) or RetryPolicy()
        window_start = row.window_started_at or row.created_at
        verdict = policy.after_transient_failure(
            row.attempts - row.attempts_before_window, (now - window_start).total_seconds()
        )
        if isinstance(verdict, GiveUp):
            return NextState("dead", dead_reason=verdict.reason)
        return NextState("pending", next_attempt_at=now + timedelta(seconds=verdict.delay))

    def _values(
        self, row: DeliveryRow, result: SendResult, next_state: NextState, now: datetime
    ) -> dict[str, Any]:
        if next_state.status == "delivered":
            return self._delivered_values(row.destination, now)
        values: dict[str, Any] = {
            "status": next_state.status,
            "next_attempt_at": next_state.next_attempt_at or row.next_attempt_at,
            "lease_until": None,
            "updated_at": now,
            "last_error": result.error,
        }
        if next_state.dead_reason is not None:
            values["dead_reason"] = next_state.dead_reason.value
            values["dead_at"] = now
        return values

    def _delivered_values(self, destination: str, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {
            "status": "delivered",
            "lease_until": None,
            "updated_at": now,
            "last_error": None,
            "delivered_at": now,
        }
        timeout = self._receipt_timeouts.get(destination)
        if timeout is not None:
            # A receipt that overtook this bookkeeping has set the state already: keep it.
            values["receipt_state"] = case(
                (DeliveryRow.receipted_at.is_(None), ReceiptState.AWAITING.value),
                else_=DeliveryRow.receipt_state,
            )
            values["receipt_due_at"] = now + timedelta(seconds=timeout)
        return values

    def _audit(
        self, session: AsyncSession, row: DeliveryRow, result: SendResult, next_state: NextState
    ) -> None:
        status = next_state.status
        action = {"delivered": "delivered", "dead": "dead_lettered"}.get(status, "attempt_failed")
        detail: dict[str, Any] = {}
        if next_state.dead_reason is not None:
            detail["reason"] = next_state.dead_reason.value
        if next_state.next_attempt_at is not None:
            detail["next_attempt_at"] = next_state.next_attempt_at.isoformat()
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
            **detail,
        )

    @staticmethod
    def _log(row: DeliveryRow, result: SendResult, next_state: NextState) -> None:
        if next_state.status == "delivered":
            log.info("delivered %s to %s (attempt %d)", row.id, row.destination, row.attempts)
        else:
            log.warning(
                "delivery %s to %s attempt %d failed (%s): %s -> %s%s",
                row.id,
                row.destination,
                row.attempts,
                result.outcome.value,
                result.error,
                next_state.status,
                f" ({next_state.dead_reason.value})" if next_state.dead_reason else "",
            )
