"""The alert a delivery outcome raises: one per destination and cause of dead letters, never
one per dead letter or per failed attempt.

Written to the alert outbox in the transaction that records the outcome
(:mod:`bridge.service.operations.alert_outbox`); while the group's incident is open
(``dead-letters:<destination>:<reason>``) more dead letters of that group add nothing. The rules
resolve it once none of the group is left (:mod:`bridge.service.operations.alert_rules`). A
destination that keeps failing is alerted by the rules too, from the attempts in the database,
so that every process agrees on one incident.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.connectors.port import SendResult
from bridge.service.delivery.dead_letters import DeadReason
from bridge.service.operations import alert_outbox
from bridge.service.operations.incident_keys import dead_letters_key
from bridge.store.tables import DeliveryRow


def alert_dead_letters(
    session: AsyncSession,
    dead: Iterable[tuple[DeliveryRow, SendResult, DeadReason]],
    now: datetime,
) -> None:
    """One outbox row per destination and cause among ``dead`` (one batch of outcomes)."""
    groups: Counter[tuple[str, DeadReason]] = Counter()
    last: dict[tuple[str, DeadReason], SendResult] = {}
    for row, result, reason in dead:
        groups[(row.destination, reason)] += 1
        last[(row.destination, reason)] = result
    for (destination, reason), count in groups.items():
        error = last[(destination, reason)].error or "no error text"
        alert_outbox.raise_later(
            session,
            at=now,
            key=dead_letters_key(destination, reason.value),
            kind="dead-letter",
            summary=(
                f"notices to {destination} go to the dead letters ({reason.value}); "
                f"last error: {error}. List them: bridge dead-letter list --group-by cause"
            ),
            detail={
                "destination": destination,
                "reason": reason.value,
                "in_this_batch": count,
                "last_error": error,
            },
        )
