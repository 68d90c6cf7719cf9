"""A message's full history, read from the audit log and the outbox (for CLI and ops API)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from bridge.store.db import Database
from bridge.store.tables import AuditRow, DeliveryAttemptRow, DeliveryRow, MessageRow


@dataclass
class HistoryEntry:
    at: datetime
    action: str
    actor: str
    delivery_id: str | None
    detail: dict[str, Any]


@dataclass
class MessageHistory:
    message_id: str
    dedupe_key: str
    event_code: str
    patient_masked: str
    entrypoint: str
    received_at: datetime
    unrecognised_restriction: str | None = None  # treated as protected (docs/security.md)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    entries: list[HistoryEntry] = field(default_factory=list)


async def find_message_id(db: Database, reference: str) -> str | None:
    """Find by bridge message id, dedupe key (facility|control id) or the sender's control id."""
    async with db.session() as session:
        found = await session.scalar(
            select(MessageRow.id)
            .where(
                or_(
                    MessageRow.id == reference,
                    MessageRow.dedupe_key == reference,
                    MessageRow.dedupe_key.like(f"%|{reference}"),
                )
            )
            .limit(1)
        )
    return found


async def message_history(db: Database, message_id: str) -> MessageHistory | None:
    async with db.session() as session:
        message = await session.get(MessageRow, message_id)
        if message is None:
            return None
        history = MessageHistory(
            message_id=message.id,
            dedupe_key=message.dedupe_key,
            event_code=message.event_code,
            patient_masked=message.patient_masked,
            entrypoint=message.entrypoint,
            received_at=message.received_at,
            unrecognised_restriction=message.unrecognised_restriction,
        )
        deliveries = (
            await session.scalars(select(DeliveryRow).where(DeliveryRow.message_id == message_id))
        ).all()
        for delivery in deliveries:
            attempts = (
                await session.scalars(
                    select(DeliveryAttemptRow)
                    .where(DeliveryAttemptRow.delivery_id == delivery.id)
                    .order_by(DeliveryAttemptRow.attempt)
                )
            ).all()
            history.deliveries.append(
                {
                    "delivery_id": delivery.id,
                    "destination": delivery.destination,
                    "status": delivery.status,
                    "attempts": [
                        {
                            "attempt": a.attempt,
                            "outcome": a.outcome,
                            "status_code": a.status_code,
                            "error": a.error,
                            "finished_at": a.finished_at.isoformat(),
                        }
                        for a in attempts
                    ],
                    "idempotency_key": delivery.idempotency_key,
                    "delivered_at": delivery.delivered_at.isoformat()
                    if delivery.delivered_at
                    else None,
                }
            )
        rows = (
            await session.scalars(
                select(AuditRow).where(AuditRow.message_id == message_id).order_by(AuditRow.id)
            )
        ).all()
        history.entries = [
            HistoryEntry(row.at, row.action, row.actor, row.delivery_id, json.loads(row.detail))
            for row in rows
        ]
    return history
