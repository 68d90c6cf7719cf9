"""Dead letters: deliveries that failed for good, for operators to inspect, replay or discard.

A dead letter is an outbox row in state ``dead``: it keeps its payload, its idempotency key,
every attempt (``delivery_attempts``), the last error and why it died (:class:`DeadReason`).

Order (ARCHITECTURE.md guarantee 4) holds across dead letters: a dead delivery is not settled,
so the patient's later notices for the same destination wait behind it (``held_back``) until an
operator replays it (it is delivered first, then the ones behind it) or discards it (the ones
behind it go on without it). Every operator action, and every read of a payload, is audited
with the operator's name (``actor``).

Used by ``bridge dead-letter …`` and the ops JSON API (``/ops/api/dead-letters``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bridge.service.clock import Clock
from bridge.service.delivery.outbox import fresh_window
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import DeliveryAttemptRow, DeliveryRow, MessageRow


def dead_letter_alert_key(delivery_id: str) -> str:
    """The per-notice key of bridges before grouped dead-letter alerts; incidents still open
    under it are resolved by the rules when that notice is replayed or discarded."""
    return f"dead-letter:{delivery_id}"


class DeadReason(StrEnum):
    """Why a delivery went to the dead letters."""

    PERMANENT = "permanent"  # the receiver refused it (4xx, fatal-error, unencodable)
    # Deprecated: attempts no longer end retries; kept for dead letters made before.
    MAX_ATTEMPTS = "max-attempts"
    MAX_AGE = "max-age"  # transient failures for longer than the policy's maximum age


class DeadLetterNotFound(LookupError):
    """No delivery with this id."""

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"no delivery with id {delivery_id}")
        self.delivery_id = delivery_id


class NotADeadLetter(Exception):
    """The delivery exists but is not (any longer) dead: replayed or discarded already."""

    def __init__(self, delivery_id: str, status: str) -> None:
        super().__init__(f"delivery {delivery_id} is {status}, not dead")
        self.delivery_id = delivery_id
        self.status = status


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters; every field left None matches all. Times compare with ``dead_at``."""

    destination: str | None = None
    reason: DeadReason | None = None
    event_code: str | None = None
    patient_key: str | None = None
    message_id: str | None = None
    dead_after: datetime | None = None
    dead_before: datetime | None = None


@dataclass(frozen=True)
class DeadLetterSummary:
    """One line of the list: no payload, the patient masked."""

    delivery_id: str
    message_id: str
    destination: str
    event_code: str
    patient_masked: str
    reason: str
    attempts: int
    last_error: str | None
    created_at: datetime
    dead_at: datetime | None
    held_back: int  # the patient's later notices for this destination waiting behind it


@dataclass(frozen=True)
class DeadLetterGroup:
    """Dead letters of one destination that died for the same cause (reason and last error):
    what an operator fixes once, then replays or discards together."""

    destination: str
    reason: str
    last_error: str | None
    count: int
    first_dead_at: datetime | None
    last_dead_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    finished_at: datetime
    outcome: str
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class DeadLetter:
    """Everything about one dead letter, payload included (reading it is audited)."""

    summary: DeadLetterSummary
    idempotency_key: str
    header_id: str | None
    correlation_id: str
    dedupe_key: str
    content_type: str
    payload: str
    attempts: tuple[Attempt, ...]


class DeadLetters:
    """The operator's desk for dead letters. ``on_replayed`` wakes the relay (optional)."""

    def __init__(
        self, db: Database, clock: Clock, on_replayed: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._on_replayed = on_replayed

    async def list(
        self, where: DeadLetterFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[DeadLetterSummary]:
        """Dead letters matching ``where``, most recently dead first."""
        query = (
            _summary_query(where or DeadLetterFilter())
            .order_by(DeliveryRow.dead_at.desc(), DeliveryRow.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        return [_summary(row) for row in rows]

    async def groups(self, where: DeadLetterFilter | None = None) -> builtins.list[DeadLetterGroup]:
        """Dead letters matching ``where`` grouped by destination and cause, largest first."""
        columns: builtins.list[Any] = [
            DeliveryRow.destination,
            DeliveryRow.dead_reason,
            DeliveryRow.last_error,
            func.count().label("n"),
            func.min(DeliveryRow.dead_at).label("first"),
            func.max(DeliveryRow.dead_at).label("last"),
        ]
        grouped: Select[Any] = (
            select(*columns)
            .join(MessageRow, _JOIN)
            .group_by(DeliveryRow.destination, DeliveryRow.dead_reason, DeliveryRow.last_error)
        )
        query = _filtered(grouped, where or DeadLetterFilter()).order_by(
            func.count().desc(), DeliveryRow.destination
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        return [
            DeadLetterGroup(
                destination=row.destination,
                reason=row.dead_reason or "",
                last_error=row.last_error,
                count=int(row.n),
                first_dead_at=row.first,
                last_dead_at=row.last,
            )
            for row in rows
        ]

    async def count(self, where: DeadLetterFilter | None = None) -> int:
        query = _filtered(
            select(func.count()).select_from(DeliveryRow).join(MessageRow, _JOIN),
            where or DeadLetterFilter(),
        )
        async with self._db.session() as session:
            return int(await session.scalar(query) or 0)

    async def show(self, delivery_id: str, *, actor: str) -> DeadLetter:
        """One dead letter with payload and attempts; audited as a read of patient data.

        Raises :class:`DeadLetterNotFound`, or :class:`NotADeadLetter` when it is not dead.
        """
        async with self._db.session() as session, session.begin():
            row = (
                await session.execute(
                    _summary_query(DeadLetterFilter(), any_status=True).where(
                        DeliveryRow.id == delivery_id
                    )
                )
            ).first()
            if row is None:
                raise DeadLetterNotFound(delivery_id)
            delivery: DeliveryRow = row.DeliveryRow
            if delivery.status != "dead":
                raise NotADeadLetter(delivery_id, delivery.status)
            attempts = (
                await session.scalars(
                    select(DeliveryAttemptRow)
                    .where(DeliveryAttemptRow.delivery_id == delivery_id)
                    .order_by(DeliveryAttemptRow.attempt, DeliveryAttemptRow.id)
                )
            ).all()
            audit.record(
                session,
                at=self._clock.now(),
                action="dead_letter_viewed",
                message_id=delivery.message_id,
                delivery_id=delivery_id,
                actor=actor,
            )
        return DeadLetter(
            summary=_summary(row),
            idempotency_key=delivery.idempotency_key,
            header_id=delivery.header_id,
            correlation_id=row.correlation_id,
            dedupe_key=row.dedupe_key,
            content_type=delivery.content_type,
            payload=delivery.payload,
            attempts=tuple(_attempt(a) for a in attempts),
        )

    async def replay(self, delivery_id: str, *, actor: str, reason: str = "") -> None:
        """Send one dead letter again, with a fresh retry window and the same idempotency key.

        It keeps its place in the patient's order: it goes before the notices held behind it.
        Raises :class:`DeadLetterNotFound` or :class:`NotADeadLetter`.
        """
        async with self._db.session() as session, session.begin():
            if not await self._replay_row(session, delivery_id, actor, reason):
                raise await _why_not(session, delivery_id)
        self._wake()

    async def replay_matching(
        self, where: DeadLetterFilter, *, actor: str, reason: str = "", limit: int = 10_000
    ) -> builtins.list[str]:
        """Replay every dead letter matching ``where`` (up to ``limit``); returns their ids.

        Each is replayed in its own transaction and audited on its own; one that an operator
        changed meanwhile is skipped.
        """
        query = (
            _filtered(select(DeliveryRow.id).join(MessageRow, _JOIN), where)
            .order_by(DeliveryRow.dead_at, DeliveryRow.id)
            .limit(limit)
        )
        async with self._db.session() as session:
            candidates = list((await session.scalars(query)).all())
        replayed: builtins.list[str] = []
        for delivery_id in candidates:
            async with self._db.session() as session, session.begin():
                if await self._replay_row(session, delivery_id, actor, reason):
                    replayed.append(delivery_id)
        if replayed:
            self._wake()
        return replayed

    async def discard(self, delivery_id: str, *, actor: str, reason: str) -> None:
        """Give a dead letter up for good, with a reason; the notices held behind it go on.

        Raises ``ValueError`` without a reason, :class:`DeadLetterNotFound` or
        :class:`NotADeadLetter`.
        """
        if not reason.strip():
            raise ValueError("a reason is required to discard a dead letter")
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            changed = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "dead")
                .values(status="discarded", discard_reason=reason, updated_at=now)
                .returning(DeliveryRow.message_id)
            )
            message_id = changed.scalar_one_or_none()
            if message_id is None:
                raise await _why_not(session, delivery_id)
            audit.record(
                session,
                at=now,
                action="dead_letter_discarded",
                message_id=message_id,
                delivery_id=delivery_id,
                actor=actor,
                reason=reason,
            )
        self._wake()

    async def _replay_row(
        self, session: AsyncSession, delivery_id: str, actor: str, reason: str
    ) -> bool:
        now = self._clock.now()
        changed = await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "dead")
            .values(
                status="pending",
                lease_until=None,
                dead_reason=None,
                dead_at=None,
                **fresh_window(now),
            )
            .returning(DeliveryRow.message_id, DeliveryRow.attempts)
        )
        row = changed.first()
        if row is None:
            return False
        audit.record(
            session,
            at=now,
            action="dead_letter_replayed",
            message_id=row.message_id,
            delivery_id=delivery_id,
            actor=actor,
            reason=reason,
            attempts_so_far=row.attempts,
        )
        # The group's incident is resolved by the alert rules once none of it is left.
        return True

    def _wake(self) -> None:
        if self._on_replayed is not None:
            self._on_replayed()


_JOIN = MessageRow.id == DeliveryRow.message_id


def _summary_query(where: DeadLetterFilter, *, any_status: bool = False) -> Select[Any]:
    later = aliased(DeliveryRow)
    held_back = (
        select(func.count())
        .where(
            later.destination == DeliveryRow.destination,
            later.patient_key == DeliveryRow.patient_key,
            later.seq > DeliveryRow.seq,
            later.status == "pending",
        )
        .correlate(DeliveryRow)
        .scalar_subquery()
        .label("held_back")
    )
    query: Select[Any] = select(
        DeliveryRow,
        MessageRow.event_code,
        MessageRow.patient_masked,
        MessageRow.correlation_id,
        MessageRow.dedupe_key,
        held_back,
    ).join(MessageRow, _JOIN)
    return _filtered(query, where, any_status=any_status)


def _filtered(
    query: Select[Any], where: DeadLetterFilter, *, any_status: bool = False
) -> Select[Any]:
    if not any_status:
        query = query.where(DeliveryRow.status == "dead")
    if where.destination is not None:
        query = query.where(DeliveryRow.destination == where.destination)
    if where.reason is not None:
        query = query.where(DeliveryRow.dead_reason == where.reason.value)
    if where.event_code is not None:
        query = query.where(MessageRow.event_code == where.event_code)
    if where.patient_key is not None:
        query = query.where(DeliveryRow.patient_key == where.patient_key)
    if where.message_id is not None:
        query = query.where(DeliveryRow.message_id == where.message_id)
    if where.dead_after is not None:
        query = query.where(DeliveryRow.dead_at >= where.dead_after)
    if where.dead_before is not None:
        query = query.where(DeliveryRow.dead_at < where.dead_before)
    return query


async def _why_not(session: AsyncSession, delivery_id: str) -> Exception:
    status = await session.scalar(select(DeliveryRow.status).where(DeliveryRow.id == delivery_id))
    if status is None:
        return DeadLetterNotFound(delivery_id)
    return NotADeadLetter(delivery_id, status)


def _summary(row: Row[Any]) -> DeadLetterSummary:
    delivery: DeliveryRow = row.DeliveryRow
    return DeadLetterSummary(
        delivery_id=delivery.id,
        message_id=delivery.message_id,
        destination=delivery.destination,
        event_code=row.event_code,
        patient_masked=row.patient_masked,
        reason=delivery.dead_reason or "",
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        dead_at=delivery.dead_at,
        held_back=int(row.held_back or 0),
    )


def _attempt(row: DeliveryAttemptRow) -> Attempt:
    return Attempt(
        attempt=row.attempt,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        status_code=row.status_code,
        error=row.error,
    )
