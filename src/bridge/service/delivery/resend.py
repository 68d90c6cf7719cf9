"""Resend: deliver a notice again that was delivered, or delivered and never confirmed.

A receiver that lost a notice, or a notice whose receipt never came (``unreceipted``), needs the
same notice again. The row goes back to ``pending`` with its payload, its idempotency key and
its place in the patient's order unchanged: a receiver that did file it drops the repeat on the
key (guarantee 3), one that did not files it now. The patient's later notices that are still
waiting queue behind it again, as they would behind any unsettled notice.

The operator takes the receipt incident on: an open ``unreceipted`` or ``receipt-negative``
alert is resolved, the receipt state starts over, and a notice that stays unconfirmed after
this delivery is a new incident. Every resend is audited with who and why.

Only ``delivered`` rows can be resent: a dead letter is replayed (``dead_letters.py``), and a
row still pending or in flight is on its way already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.service.clock import Clock
from bridge.service.delivery.outbox import fresh_window
from bridge.service.delivery.receipts import negative_receipt_alert_key, unreceipted_alert_key
from bridge.service.operations import alert_outbox, audit
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow

RESENDABLE = "delivered"


class DeliveryNotFound(LookupError):
    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"no delivery with id {delivery_id}")
        self.delivery_id = delivery_id


class NotResendable(Exception):
    """The delivery is not delivered: pending or in flight (on its way), dead (replay it)."""

    def __init__(self, delivery_id: str, status: str) -> None:
        hint = " (replay the dead letter instead)" if status == "dead" else ""
        super().__init__(f"delivery {delivery_id} is {status}, not delivered{hint}")
        self.delivery_id = delivery_id
        self.status = status


@dataclass(frozen=True)
class Resent:
    delivery_id: str
    message_id: str
    destination: str
    idempotency_key: str
    previous_receipt_state: str | None


class Resender:
    """Sends delivered notices again; ``on_resent`` wakes the relay (optional)."""

    def __init__(
        self, db: Database, clock: Clock, on_resent: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._on_resent = on_resent

    async def resend(self, delivery_id: str, *, actor: str, reason: str) -> Resent:
        """Queue one delivered notice again. Raises ``ValueError`` without a reason,
        :class:`DeliveryNotFound` or :class:`NotResendable`."""
        if not reason.strip():
            raise ValueError("a reason is required to resend a notice")
        async with self._db.session() as session, session.begin():
            resent = await self._resend_row(session, delivery_id, actor, reason)
            if resent is None:
                status = await session.scalar(
                    select(DeliveryRow.status).where(DeliveryRow.id == delivery_id)
                )
                if status is None:
                    raise DeliveryNotFound(delivery_id)
                raise NotResendable(delivery_id, status)
        if self._on_resent is not None:
            self._on_resent()
        return resent

    async def unreceipted_ids(self, destination: str | None = None) -> list[str]:
        """Delivered notices now unreceipted or negatively receipted, oldest first."""
        query = (
            select(DeliveryRow.id)
            .where(
                DeliveryRow.status == RESENDABLE,
                DeliveryRow.receipt_state.in_(("unreceipted", "negative")),
            )
            .order_by(DeliveryRow.delivered_at, DeliveryRow.id)
        )
        if destination is not None:
            query = query.where(DeliveryRow.destination == destination)
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def _resend_row(
        self, session: AsyncSession, delivery_id: str, actor: str, reason: str
    ) -> Resent | None:
        now = self._clock.now()
        before = await session.scalar(
            select(DeliveryRow.receipt_state).where(DeliveryRow.id == delivery_id)
        )
        changed = await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == RESENDABLE)
            .values(
                status="pending",
                lease_until=None,
                last_error=None,
                receipt_state=None,
                receipt_due_at=None,
                receipted_at=None,
                receipt_code=None,
                **fresh_window(now),
            )
            .returning(DeliveryRow.message_id, DeliveryRow.destination, DeliveryRow.idempotency_key)
        )
        row = changed.first()
        if row is None:
            return None
        audit.record(
            session,
            at=now,
            action="delivery_resent",
            message_id=row.message_id,
            delivery_id=delivery_id,
            actor=actor,
            reason=reason,
            destination=row.destination,
            idempotency_key=row.idempotency_key,
            receipt_state_before=before,
        )
        for key in (unreceipted_alert_key(delivery_id), negative_receipt_alert_key(delivery_id)):
            alert_outbox.resolve_later(session, at=now, key=key, summary=f"resent by {actor}")
        return Resent(delivery_id, row.message_id, row.destination, row.idempotency_key, before)
