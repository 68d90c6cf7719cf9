"""Alerts decided in a transaction, handed to the alerting port after it commits.

A state change that is an incident (a dead letter, an unreceipted notice) writes an
``alert_outbox`` row in its own transaction; :class:`AlertDispatcher` hands unsent rows to the
:class:`~bridge.service.operations.alerts.Alerting` port and marks them sent. A process that
dies between commit and alert leaves the row unsent, and the next sweep (of any process) sends
it: alerts are raised at least once, and the port makes that one message per incident (by
``key``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.service.clock import Clock
from bridge.service.operations.alerts import Alerting
from bridge.store.db import Database
from bridge.store.tables import AlertOutboxRow

log = logging.getLogger(__name__)

RAISE = "raise"
RESOLVE = "resolve"


def raise_later(
    session: AsyncSession,
    *,
    at: datetime,
    key: str,
    kind: str,
    summary: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Raise ``key`` once this transaction commits. ``detail`` must hold no personnummer."""
    session.add(
        AlertOutboxRow(
            key=key,
            action=RAISE,
            kind=kind,
            summary=summary,
            detail=json.dumps(detail or {}, default=str, ensure_ascii=False, sort_keys=True),
            created_at=at,
        )
    )


def resolve_later(session: AsyncSession, *, at: datetime, key: str, summary: str = "") -> None:
    """Resolve ``key`` once this transaction commits."""
    session.add(
        AlertOutboxRow(
            key=key, action=RESOLVE, kind="", summary=summary, detail="{}", created_at=at
        )
    )


class AlertDispatcher:
    def __init__(self, db: Database, alerting: Alerting, clock: Clock, batch: int = 50) -> None:
        self._db = db
        self._alerting = alerting
        self._clock = clock
        self._batch = batch
        self.wakeup = asyncio.Event()

    async def run(self, interval: float) -> None:
        while True:
            try:
                sent = await self.dispatch_once()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("alert dispatch paused: %s", type(error).__name__)
                sent = 0
            if sent >= self._batch:
                continue
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)

    async def dispatch_once(self) -> int:
        """Hand unsent alerts to the port, oldest first; returns how many were sent.

        The rows stay locked while the port runs, so two processes do not send the same one.
        """
        query = (
            select(AlertOutboxRow)
            .where(AlertOutboxRow.sent_at.is_(None))
            .order_by(AlertOutboxRow.id)
            .limit(self._batch)
        )
        if not self._db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self._db.session() as session, session.begin():
            rows = (await session.scalars(query)).all()
            sent = []
            raised: set[str] = set()
            for row in rows:
                # Grouped incidents (dead letters per destination and cause) get one row per
                # batch of outcomes: raising the same key twice in a row adds nothing.
                if row.action == RAISE and row.key in raised:
                    sent.append(row.id)
                    continue
                if not await self._send(row):
                    break
                if row.action == RAISE:
                    raised.add(row.key)
                else:
                    raised.discard(row.key)
                sent.append(row.id)
            if sent:
                await session.execute(
                    update(AlertOutboxRow)
                    .where(AlertOutboxRow.id.in_(sent))
                    .values(sent_at=self._clock.now())
                )
        return len(sent)

    async def _send(self, row: AlertOutboxRow) -> bool:
        try:
            if row.action == RESOLVE:
                await self._alerting.resolve(row.key, row.summary)
            else:
                await self._alerting.raise_alert(
                    row.key, row.kind, row.summary, json.loads(row.detail)
                )
        except Exception:
            log.exception("alerting failed for %s; will try again", row.key)
            return False
        return True
