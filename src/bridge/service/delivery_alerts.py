"""The alerts a delivery outcome raises: one per dead letter, one per failing destination.

Written to the alert outbox in the transaction that records the outcome
(:mod:`bridge.service.alert_outbox`), never one per failed attempt (guarantee 5).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.connectors.port import SendResult
from bridge.service import alert_outbox
from bridge.service.dead_letters import DeadReason, dead_letter_alert_key
from bridge.store.tables import DeliveryRow

FAILING_AFTER = 5  # failed attempts in a row to a destination: it is failing


def destination_failing_alert_key(destination: str) -> str:
    return f"destination-failing:{destination}"


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


class DestinationHealth:
    """One alert when a destination keeps failing, its recovery when it takes notices again.

    Counted per process: :data:`FAILING_AFTER` failed attempts to a destination in a row, with
    no delivery between them, raise ``destination-failing:<destination>`` once; this process's
    next delivery there resolves it. (Counting one notice's attempts instead would alert late
    when the receiver hangs: with each attempt waiting for a timeout and hundreds of patients
    due, one notice gets its third try only after minutes.)
    """

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._raised: set[str] = set()

    def observe(
        self,
        session: AsyncSession,
        row: DeliveryRow,
        result: SendResult,
        status: str,
        now: datetime,
    ) -> bool:
        """Add the alert this outcome calls for, if any; True when it added one."""
        destination = row.destination
        key = destination_failing_alert_key(destination)
        if status == "delivered":
            self._failures.pop(destination, None)
            if destination not in self._raised:
                return False
            self._raised.discard(destination)
            alert_outbox.resolve_later(
                session, at=now, key=key, summary=f"{destination} takes notices again"
            )
            return True
        self._failures[destination] = self._failures.get(destination, 0) + 1
        if self._failures[destination] < FAILING_AFTER or destination in self._raised:
            return False
        self._raised.add(destination)
        alert_outbox.raise_later(
            session,
            at=now,
            key=key,
            kind="destination-failing",
            summary=(
                f"notices to {destination} keep failing ({result.error}); they are retried "
                "with backoff and held in each patient's order"
            ),
            detail={
                "destination": destination,
                "status_code": result.status_code,
                "last_error": result.error,
            },
        )
        return True
