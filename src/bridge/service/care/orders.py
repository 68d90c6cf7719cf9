"""Home-care orders in the store: tracked as they are accepted, reminded when unanswered.

:func:`track_many` runs inside the accept transaction (like the episodes), so an order, its
deadline and its answer are committed with the message itself. :class:`OrderReminders` finds
orders past their deadline and raises one alert per order (the alerting port's incident key
makes it one message per order, whatever the number of processes); an answer resolves it.
:func:`count_orders` is what the indicators call. docs/orders.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.indicators import ALL_UNITS, IndicatorValue
from bridge.domain.model import CareTransitionEvent, EventCode, HomeCareOrder
from bridge.domain.orders import (
    OPEN_STATUSES,
    OrderCounts,
    OrderDeadlinePolicy,
    OrderState,
    count_states,
)
from bridge.domain.report_periods import Span, provisional
from bridge.service.clock import Clock
from bridge.service.operations import alert_outbox, audit
from bridge.store.db import Database
from bridge.store.tables import HomeCareOrderRow

log = logging.getLogger(__name__)

REMINDER_KIND = "order-unanswered"


def reminder_key(row_id: str) -> str:
    return f"{REMINDER_KIND}:{row_id}"


def requester_key(order: HomeCareOrder) -> str:
    """Who asked: the requesting unit's HSA-id, else its name (the model requires one)."""
    unit = order.requester
    return (unit.hsa_id or unit.name or "").casefold()


@dataclass(frozen=True)
class TrackedOrder:
    event: CareTransitionEvent
    message_id: str
    patient_key: str
    patient_masked: str
    source: str


async def track_many(
    session: AsyncSession,
    tracked: Sequence[TrackedOrder],
    now: datetime,
    policy: OrderDeadlinePolicy,
) -> None:
    """Record each order and answer in this transaction (in the order accepted)."""
    for item in tracked:
        order = item.event.order
        if order is None:
            continue
        row = await session.scalar(
            select(HomeCareOrderRow).where(
                HomeCareOrderRow.requester_key == requester_key(order),
                HomeCareOrderRow.order_id == order.order_id,
            )
        )
        if item.event.event is EventCode.HOMECARE_ORDER:
            _ordered(session, row, item, order, now, policy)
        else:
            _answered(session, row, item, order, now)
        await session.flush()


def _ordered(
    session: AsyncSession,
    row: HomeCareOrderRow | None,
    item: TrackedOrder,
    order: HomeCareOrder,
    now: datetime,
    policy: OrderDeadlinePolicy,
) -> None:
    """A new order, or the same order sent again (e.g. completed after "need more
    information"): requested, with a fresh deadline."""
    deadline = policy.deadline(now)
    if row is None:
        row = HomeCareOrderRow(
            id=str(uuid.uuid4()),
            requester_key=requester_key(order),
            order_id=order.order_id,
            source=item.source,
            sent_at=now,
            patient_key=item.patient_key,
            patient_masked=item.patient_masked,
        )
        session.add(row)
    elif row.reminded_at is not None:
        alert_outbox.resolve_later(
            session, at=now, key=reminder_key(row.id), summary="order sent again"
        )
    row.requester_hsa_id = order.requester.hsa_id
    row.requester_name = order.requester.name
    row.service = order.service
    row.status = "requested"
    row.reason = None
    row.deadline_at = deadline
    row.answered_at = None
    row.reminded_at = None
    row.order_message_id = item.message_id
    row.updated_at = now
    audit.record(
        session,
        at=now,
        action="order_requested",
        message_id=item.message_id,
        order=order.order_id,
        requester=order.requester.hsa_id or order.requester.name,
        deadline=deadline.isoformat(),
        patient=item.patient_masked,
    )


def _answered(
    session: AsyncSession,
    row: HomeCareOrderRow | None,
    item: TrackedOrder,
    order: HomeCareOrder,
    now: datetime,
) -> None:
    """The municipality's answer closes the deadline (an answer to an order the bridge never
    saw, e.g. one sent on paper, is kept too, without a deadline)."""
    if row is None:
        row = HomeCareOrderRow(
            id=str(uuid.uuid4()),
            requester_key=requester_key(order),
            order_id=order.order_id,
            requester_hsa_id=order.requester.hsa_id,
            requester_name=order.requester.name,
            service=order.service,
            source=item.source,
            patient_key=item.patient_key,
            patient_masked=item.patient_masked,
            sent_at=now,
            deadline_at=None,
            order_message_id=item.message_id,
        )
        session.add(row)
    elif row.reminded_at is not None:
        alert_outbox.resolve_later(
            session, at=now, key=reminder_key(row.id), summary=f"order answered {order.status}"
        )
    late = row.deadline_at is not None and now > row.deadline_at
    row.status = order.status
    row.reason = order.reason
    row.answered_at = now
    row.answer_message_id = item.message_id
    row.updated_at = now
    audit.record(
        session,
        at=now,
        action="order_answered",
        message_id=item.message_id,
        order=order.order_id,
        status=order.status,
        late=late,
        patient=item.patient_masked,
    )


@dataclass(frozen=True)
class OrderView:
    """One order as operators see it (the patient masked)."""

    id: str
    order_id: str
    requester: str
    service: str
    patient: str
    status: str
    reason: str | None
    sent_at: datetime
    deadline_at: datetime | None
    answered_at: datetime | None
    reminded_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order_id": self.order_id,
            "requester": self.requester,
            "service": self.service,
            "patient": self.patient,
            "status": self.status,
            "reason": self.reason,
            "sent_at": self.sent_at.isoformat(),
            "deadline_at": _iso(self.deadline_at),
            "answered_at": _iso(self.answered_at),
            "reminded_at": _iso(self.reminded_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _view(row: HomeCareOrderRow) -> OrderView:
    return OrderView(
        id=row.id,
        order_id=row.order_id,
        requester=row.requester_name or row.requester_hsa_id or row.requester_key,
        service=row.service,
        patient=row.patient_masked,
        status=row.status,
        reason=row.reason,
        sent_at=row.sent_at,
        deadline_at=row.deadline_at,
        answered_at=row.answered_at,
        reminded_at=row.reminded_at,
    )


async def list_orders(db: Database, status: str | None = None, limit: int = 200) -> list[OrderView]:
    """Orders newest first, optionally of one status."""
    query = select(HomeCareOrderRow).order_by(HomeCareOrderRow.sent_at.desc()).limit(limit)
    if status is not None:
        query = query.where(HomeCareOrderRow.status == status)
    async with db.session() as session:
        return [_view(row) for row in await session.scalars(query)]


async def count_orders(db: Database, start: datetime, end: datetime, now: datetime) -> OrderCounts:
    """Orders sent in ``[start, end)`` and what became of them as of ``now``: sent, answered,
    accepted, rejected, need more information, unanswered past their deadline, answered late.
    The indicators call this (docs/orders.md)."""
    query = select(
        HomeCareOrderRow.status, HomeCareOrderRow.deadline_at, HomeCareOrderRow.answered_at
    ).where(HomeCareOrderRow.sent_at >= start, HomeCareOrderRow.sent_at < end)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return count_states([OrderState(*row) for row in rows], now)


@dataclass(frozen=True)
class ReminderReport:
    reminded: tuple[str, ...]


class OrderReminders:
    """Raises one reminder per order unanswered at its deadline (alert + audit row)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: OrderDeadlinePolicy,
        *,
        on_alert: Sequence[asyncio.Event] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy
        self._wake = tuple(on_alert)

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("order reminder check paused: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(interval)

    async def check(self) -> ReminderReport:
        now = self._clock.now()
        reminded: list[str] = []
        async with self._db.session() as session, session.begin():
            due = await session.scalars(
                select(HomeCareOrderRow)
                .where(
                    HomeCareOrderRow.status.in_(OPEN_STATUSES),
                    HomeCareOrderRow.reminded_at.is_(None),
                    HomeCareOrderRow.deadline_at <= now,
                )
                .with_for_update(skip_locked=True)
            )
            for row in due:
                self._remind(session, row, now)
                reminded.append(row.order_id)
        if reminded:
            for event in self._wake:
                event.set()
        return ReminderReport(tuple(reminded))

    def _remind(self, session: AsyncSession, row: HomeCareOrderRow, now: datetime) -> None:
        row.reminded_at = now
        requester = row.requester_name or row.requester_hsa_id or row.requester_key
        deadline = row.deadline_at.isoformat() if row.deadline_at else "-"
        summary = (
            f"Home-care order {row.order_id} ({row.service}) from {requester} for patient "
            f"{row.patient_masked} is unanswered past its deadline {deadline}"
        )
        alert_outbox.raise_later(
            session,
            at=now,
            key=reminder_key(row.id),
            kind=REMINDER_KIND,
            summary=summary,
            detail={"order": row.order_id, "requester": requester, "deadline": deadline},
        )
        audit.record(
            session,
            at=now,
            action="order_reminder",
            message_id=row.order_message_id,
            order=row.order_id,
            deadline=deadline,
            patient=row.patient_masked,
        )
        log.warning("%s", summary)


def order_indicators(db: Database) -> Callable[[Span, datetime], Awaitable[list[IndicatorValue]]]:
    """The home-care order indicators for :attr:`Indicators.sources` (all units together: an
    order's unit is the referrer, not a ward of the stays counted elsewhere)."""

    async def rows(period: Span, now: datetime) -> list[IndicatorValue]:
        counts = await count_orders(db, period.start, period.end, now)
        label, running = str(period), provisional(period, now)
        decided = counts.accepted + counts.rejected
        rejected_share = 100.0 * counts.rejected / decided if decided else None
        return [
            IndicatorValue(
                label,
                ALL_UNITS,
                "orders-rejected",
                counts.rejected,
                decided,
                rejected_share,
                running,
            ),
            IndicatorValue(
                label,
                ALL_UNITS,
                "orders-unanswered-past-deadline",
                counts.unanswered_past_deadline,
                None,
                counts.unanswered_past_deadline,
                running,
            ),
        ]

    return rows
