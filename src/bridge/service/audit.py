"""Audit rows: every state change of every message, in the same transaction as the change."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store.tables import AuditRow

SYSTEM = "bridge"


def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    message_id: str | None = None,
    delivery_id: str | None = None,
    actor: str = SYSTEM,
    **detail: Any,
) -> None:
    """Add an audit row to the session's transaction. ``detail`` must hold no personnummer."""
    session.add(
        AuditRow(
            at=at,
            action=action,
            message_id=message_id,
            delivery_id=delivery_id,
            actor=actor,
            detail=json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True),
        )
    )
