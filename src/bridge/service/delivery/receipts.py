"""Receipts: the receiving system confirms a notice is in its worklist (guarantee 7).

HTTP 2xx only says the notice reached the receiver's door; Treserva's original fault answered
200 and filed nothing. A destination with ``receipt_timeout_seconds`` therefore expects a
receipt for every delivered notice:

- delivered → ``receipt_state = awaiting``, due ``receipt_timeout_seconds`` after delivery;
- a receipt with code ``ok`` → ``received``; any other code (``transient-error``,
  ``fatal-error``) → ``negative``: the receiver says it could not file it — an incident;
- still awaiting when due → ``unreceipted``: an incident, alerted once per notice
  (``unreceipted:<delivery id>``) and listed for operators until a receipt arrives after all
  (which resolves the alert).

A receipt can overtake the bridge's own bookkeeping (the receiver confirms before the bridge
has recorded the 2xx): it is stored on the delivery at once, and recording the delivery then
leaves the state as the receipt set it.

Receipts are accepted like any message (deduplicated, audited) and are not routed onward.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.model import CareTransitionEvent, EventCode
from bridge.domain.routing import Destination
from bridge.service.clock import Clock
from bridge.service.operations import alert_outbox, audit
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow, MessageRow, ReceiptRow

log = logging.getLogger(__name__)

RECEIPT_OK = "ok"


class ReceiptState(StrEnum):
    AWAITING = "awaiting"
    RECEIVED = "received"
    NEGATIVE = "negative"
    UNRECEIPTED = "unreceipted"


INCIDENT_STATES = (ReceiptState.UNRECEIPTED.value, ReceiptState.NEGATIVE.value)


def unreceipted_alert_key(delivery_id: str) -> str:
    return f"unreceipted:{delivery_id}"


def negative_receipt_alert_key(delivery_id: str) -> str:
    return f"receipt-negative:{delivery_id}"


def receipt_timeout_for(destination: Destination, default: float | None) -> float | None:
    """Seconds a delivered notice may wait for its receipt; None: the destination sends none.

    A routing entry that names ``receipt_timeout_seconds`` (even as null) decides; else
    ``default`` (``BRIDGE_RECEIPT_TIMEOUT_SECONDS``).
    """
    if "receipt_timeout_seconds" in destination.model_fields_set:
        return destination.receipt_timeout_seconds
    return default


def receipt_of(event: CareTransitionEvent) -> tuple[str, str] | None:
    """``(responds_to, code)`` of a receipt event; None for any other event."""
    if event.event is not EventCode.RECEIPT or event.receipt is None:
        return None
    return event.receipt.responds_to, event.receipt.code


@dataclass(frozen=True)
class ReceiptMatch:
    """What a receipt confirmed: the delivery, or None when no delivery has that id."""

    delivery_id: str | None
    state: ReceiptState | None


async def record_receipt(
    session: AsyncSession,
    *,
    at: datetime,
    receipt_message_id: str,
    responds_to: str,
    code: str,
) -> ReceiptMatch:
    """Store a receipt in the accepting transaction and mark the delivery it confirms.

    ``responds_to`` is the MessageHeader.id (FHIR) or MSH-10 (HL7 v2) the bridge sent.
    """
    state = ReceiptState.RECEIVED if code == RECEIPT_OK else ReceiptState.NEGATIVE
    delivery = await session.scalar(
        select(DeliveryRow).where(DeliveryRow.header_id == responds_to).with_for_update()
    )
    session.add(
        ReceiptRow(
            message_id=receipt_message_id,
            responds_to=responds_to,
            delivery_id=delivery.id if delivery else None,
            code=code,
            received_at=at,
        )
    )
    if delivery is None:
        audit.record(
            session,
            at=at,
            action="receipt_unmatched",
            message_id=receipt_message_id,
            responds_to=responds_to,
            code=code,
        )
        return ReceiptMatch(None, None)
    previous = delivery.receipt_state
    if previous == ReceiptState.RECEIVED.value:
        state = ReceiptState.RECEIVED  # a later negative receipt does not undo a filed notice
    await session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == delivery.id)
        .values(receipt_state=state.value, receipted_at=at, receipt_code=code, updated_at=at)
    )
    audit.record(
        session,
        at=at,
        action="receipted" if state is ReceiptState.RECEIVED else "receipt_negative",
        message_id=delivery.message_id,
        delivery_id=delivery.id,
        destination=delivery.destination,
        code=code,
        receipt_message_id=receipt_message_id,
    )
    if previous == ReceiptState.UNRECEIPTED.value and state is ReceiptState.RECEIVED:
        alert_outbox.resolve_later(
            session,
            at=at,
            key=unreceipted_alert_key(delivery.id),
            summary=f"receipt arrived late for delivery {delivery.id}",
        )
    if state is ReceiptState.NEGATIVE and previous != ReceiptState.NEGATIVE.value:
        alert_outbox.raise_later(
            session,
            at=at,
            key=negative_receipt_alert_key(delivery.id),
            kind="receipt-negative",
            summary=f"{delivery.destination} could not file a notice (receipt code {code})",
            detail={
                "delivery_id": delivery.id,
                "message_id": delivery.message_id,
                "destination": delivery.destination,
                "code": code,
            },
        )
    return ReceiptMatch(delivery.id, state)


@dataclass(frozen=True)
class UnreceiptedNotice:
    """A delivered notice whose receipt is overdue (or negative), for operators."""

    delivery_id: str
    message_id: str
    destination: str
    event_code: str
    patient_masked: str
    delivered_at: datetime | None
    receipt_due_at: datetime | None
    state: str  # unreceipted | negative
    receipt_code: str | None


class Receipts:
    """Watches for overdue receipts and lists the notices without one."""

    def __init__(self, db: Database, clock: Clock, batch: int = 500) -> None:
        self._db = db
        self._clock = clock
        self._batch = batch

    async def list_unreceipted(
        self,
        *,
        destination: str | None = None,
        include_negative: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> list[UnreceiptedNotice]:
        """Delivered notices without a receipt in time (and, by default, with a negative one),
        longest overdue first."""
        states = INCIDENT_STATES if include_negative else (ReceiptState.UNRECEIPTED.value,)
        query = (
            select(DeliveryRow, MessageRow.event_code, MessageRow.patient_masked)
            .join(MessageRow, MessageRow.id == DeliveryRow.message_id)
            .where(DeliveryRow.receipt_state.in_(states))
            .order_by(DeliveryRow.receipt_due_at, DeliveryRow.id)
            .limit(limit)
            .offset(offset)
        )
        if destination is not None:
            query = query.where(DeliveryRow.destination == destination)
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        return [
            UnreceiptedNotice(
                delivery_id=row.DeliveryRow.id,
                message_id=row.DeliveryRow.message_id,
                destination=row.DeliveryRow.destination,
                event_code=row.event_code,
                patient_masked=row.patient_masked,
                delivered_at=row.DeliveryRow.delivered_at,
                receipt_due_at=row.DeliveryRow.receipt_due_at,
                state=row.DeliveryRow.receipt_state or "",
                receipt_code=row.DeliveryRow.receipt_code,
            )
            for row in rows
        ]

    async def count_unreceipted(self, *, destination: str | None = None) -> int:
        query = select(func.count()).where(DeliveryRow.receipt_state.in_(INCIDENT_STATES))
        if destination is not None:
            query = query.where(DeliveryRow.destination == destination)
        async with self._db.session() as session:
            return int(await session.scalar(query) or 0)

    async def run(self, interval: float) -> None:
        """Sweep forever (every process may: a notice turns unreceipted exactly once)."""
        while True:
            try:
                marked = await self.sweep_once()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("receipt watch paused: %s", type(error).__name__)
                marked = 0
            if marked < self._batch:
                await asyncio.sleep(interval)

    async def sweep_once(self) -> int:
        """Turn every overdue awaiting delivery unreceipted: audit row and alert, each once."""
        now = self._clock.now()
        overdue = (
            select(DeliveryRow.id)
            .where(
                DeliveryRow.receipt_state == ReceiptState.AWAITING.value,
                DeliveryRow.receipt_due_at <= now,
            )
            .order_by(DeliveryRow.receipt_due_at)
            .limit(self._batch)
        )
        if not self._db.is_sqlite:
            overdue = overdue.with_for_update(skip_locked=True)
        async with self._db.session() as session, session.begin():
            ids = list((await session.scalars(overdue)).all())
            if not ids:
                return 0
            changed = await session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id.in_(ids),
                    DeliveryRow.receipt_state == ReceiptState.AWAITING.value,
                )
                .values(receipt_state=ReceiptState.UNRECEIPTED.value, updated_at=now)
                .returning(
                    DeliveryRow.id,
                    DeliveryRow.message_id,
                    DeliveryRow.destination,
                    DeliveryRow.delivered_at,
                )
            )
            marked = changed.all()
            for row in marked:
                self._incident(session, now, row.id, row.message_id, row.destination)
        if marked:
            log.error("%d delivered notice(s) without a receipt in time", len(marked))
        return len(marked)

    @staticmethod
    def _incident(
        session: AsyncSession, now: datetime, delivery_id: str, message_id: str, destination: str
    ) -> None:
        audit.record(
            session,
            at=now,
            action="unreceipted",
            message_id=message_id,
            delivery_id=delivery_id,
            destination=destination,
        )
        alert_outbox.raise_later(
            session,
            at=now,
            key=unreceipted_alert_key(delivery_id),
            kind="unreceipted",
            summary=(
                f"{destination} accepted a notice but sent no receipt in time: it may not be "
                "in the worklist"
            ),
            detail={
                "delivery_id": delivery_id,
                "message_id": message_id,
                "destination": destination,
            },
        )
