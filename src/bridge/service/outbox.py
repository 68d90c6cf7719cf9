"""The outbox: one row per (message, destination), numbered in per-patient order.

Every path that sends something (accepted messages, the bridge's own deviation alerts) adds its
rows here, so the sequence rule that keeps each patient's notices in order (ARCHITECTURE.md
guarantee 4) lives in one place. The unique constraint ``(destination, patient_key, seq)`` makes
a concurrent writer that took the same number fail and retry, so order is commit order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.service import audit
from bridge.store.tables import DeliveryRow


@dataclass(frozen=True)
class OutboxEntry:
    """An encoded payload ready to be delivered to one destination."""

    delivery_id: str
    idempotency_key: str
    message_id: str
    destination: str
    patient_key: str
    content_type: str
    body: str
    header_id: str | None


async def add_to_outbox(session: AsyncSession, entry: OutboxEntry, now: datetime) -> None:
    """Add the delivery row (next per-patient sequence number) and its audit row."""
    last_seq = await session.scalar(
        select(func.max(DeliveryRow.seq)).where(
            DeliveryRow.destination == entry.destination,
            DeliveryRow.patient_key == entry.patient_key,
        )
    )
    session.add(
        DeliveryRow(
            id=entry.delivery_id,
            message_id=entry.message_id,
            destination=entry.destination,
            idempotency_key=entry.idempotency_key,
            patient_key=entry.patient_key,
            seq=(last_seq or 0) + 1,
            status="pending",
            content_type=entry.content_type,
            payload=entry.body,
            header_id=entry.header_id,
            attempts=0,
            next_attempt_at=now,
            window_started_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    audit.record(
        session,
        at=now,
        action="outbox",
        message_id=entry.message_id,
        delivery_id=entry.delivery_id,
        destination=entry.destination,
        idempotency_key=entry.idempotency_key,
    )
