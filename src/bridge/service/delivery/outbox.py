"""The outbox: one row per (message, destination), numbered in per-patient order.

Every path that sends something (accepted messages, the bridge's own deviation alerts) adds its
rows here, so the sequence rule that keeps each patient's notices in order (ARCHITECTURE.md
guarantee 4) lives in one place. The unique constraint ``(destination, patient_key, seq)`` makes
a concurrent writer that took the same number fail and retry, so order is commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.service.operations import audit
from bridge.store.db import core
from bridge.store.tables import DeliveryRow, table_of


def fresh_window(now: datetime) -> dict[str, Any]:
    """Values that send a delivery row (back) to its destination now with a new retry window:
    its maximum age counts from ``now`` (replay, resend, reprocess, resume after a pause)."""
    return {
        "next_attempt_at": now,
        "window_started_at": now,
        "attempts_before_window": DeliveryRow.attempts,
        "updated_at": now,
    }


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
    """Add one delivery row (next per-patient sequence number) and its audit row."""
    await add_many_to_outbox(session, [entry], now)


async def add_many_to_outbox(
    session: AsyncSession, entries: Sequence[OutboxEntry], now: datetime
) -> None:
    """Add delivery rows numbered after each patient's last one, in the order given.

    One query reads the last number of every (destination, patient) in the batch and one
    multi-row INSERT writes them all: the cost of a batch barely grows with its size.
    """
    if not entries:
        return
    pairs = {(e.destination, e.patient_key) for e in entries}
    rows = await core(
        session,
        select(DeliveryRow.destination, DeliveryRow.patient_key, func.max(DeliveryRow.seq))
        .where(tuple_(DeliveryRow.destination, DeliveryRow.patient_key).in_(pairs))
        .group_by(DeliveryRow.destination, DeliveryRow.patient_key),
    )
    last: dict[tuple[str, str], int] = {
        (destination, key): int(seq or 0) for destination, key, seq in rows
    }
    values: list[dict[str, Any]] = []
    for entry in entries:
        pair = (entry.destination, entry.patient_key)
        last[pair] = last.get(pair, 0) + 1
        values.append(_row(entry, last[pair], now))
        audit.record(
            session,
            at=now,
            action="outbox",
            message_id=entry.message_id,
            delivery_id=entry.delivery_id,
            destination=entry.destination,
            idempotency_key=entry.idempotency_key,
        )
    # Rows the session holds (a message added with the ORM) must reach the database first.
    await session.flush()
    await core(session, insert(table_of(DeliveryRow)), values)


def _row(entry: OutboxEntry, seq: int, now: datetime) -> dict[str, Any]:
    return {
        "id": entry.delivery_id,
        "message_id": entry.message_id,
        "destination": entry.destination,
        "idempotency_key": entry.idempotency_key,
        "patient_key": entry.patient_key,
        "seq": seq,
        "status": "pending",
        "content_type": entry.content_type,
        "payload": entry.body,
        "header_id": entry.header_id,
        "attempts": 0,
        "attempts_before_window": 0,
        "next_attempt_at": now,
        "window_started_at": now,
        "created_at": now,
        "updated_at": now,
    }
