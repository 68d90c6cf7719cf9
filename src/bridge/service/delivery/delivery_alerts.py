"""The alert a delivery outcome raises: one per dead letter, never one per failed attempt.

Written to the alert outbox in the transaction that records the outcome
(:mod:`bridge.service.operations.alert_outbox`). A destination that keeps failing is alerted
by the alert rules (:mod:`bridge.service.operations.alert_rules`), from the attempts in the
database, so that every process agrees on one incident.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.connectors.port import SendResult
from bridge.service.delivery.dead_letters import DeadReason, dead_letter_alert_key
from bridge.service.operations import alert_outbox
from bridge.store.tables import DeliveryRow


def alert_dead_letter(
    session: AsyncSession, row: DeliveryRow, result: SendResult, reason: DeadReason, now: datetime
) -> None:
    alert_outbox.raise_later(
        session,
        at=now,
        key=dead_letter_alert_key(row.id),
        kind="dead-letter",
        summary=(
            f"a notice to {row.destination} went to the dead letters ({reason.value}) after "
            f"{row.attempts} attempt(s): {result.error or 'no error text'}"
        ),
        detail={
            "delivery_id": row.id,
            "message_id": row.message_id,
            "destination": row.destination,
            "reason": reason.value,
            "attempts": row.attempts,
            "last_error": result.error,
        },
    )
