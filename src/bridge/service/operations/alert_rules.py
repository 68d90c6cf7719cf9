"""Alert rules, checked every few seconds by every bridge process (the port dedupes):

- **database unreachable** / **broker unreachable** for longer than ``unreachable_after``;
- **destination failing**: every delivery attempt to a destination has failed (transiently)
  since its last success, and the first of those failures is older than ``failing_after``;
  resolved by the next successful delivery, however many retries happen in between;
- **dead letters**: the delivery worker raises ``dead-letter:<id>`` when a notice dies; the
  incident is resolved here once an operator replayed or discarded it;
- **unreceipted notices** are raised and resolved by :mod:`bridge.service.delivery.receipts`.

Finally the check sends what incidents still owe (a notice whose channel was down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from bridge.service.clock import Clock
from bridge.service.operations.alerts import DATABASE_UNREACHABLE, Alerting, IncidentAlerting
from bridge.store.db import Database
from bridge.store.tables import AlertIncidentRow, DeliveryAttemptRow, DeliveryRow

log = logging.getLogger(__name__)

BROKER_UNREACHABLE = "broker-unreachable"
DESTINATION_FAILING = "destination-failing"


def destination_failing_key(destination: str) -> str:
    return f"{DESTINATION_FAILING}:{destination}"


class AlertRules:
    def __init__(
        self,
        db: Database,
        alerting: Alerting,
        clock: Clock,
        destinations: list[str],
        *,
        database_ok: Callable[[], Awaitable[bool]],
        broker_ok: Callable[[], Awaitable[bool]],
        failing_after: float,
        unreachable_after: float,
    ) -> None:
        self._db = db
        self._alerting = alerting
        self._clock = clock
        self._destinations = destinations
        self._checks = {DATABASE_UNREACHABLE: database_ok, BROKER_UNREACHABLE: broker_ok}
        self._failing_after = failing_after
        self._unreachable_after = unreachable_after
        self._down_since: dict[str, datetime] = {}
        self._raised_here: set[str] = set()

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:
                log.exception("alert rules check failed; trying again")
            await asyncio.sleep(interval)

    async def check_once(self) -> None:
        if not await self._reachable(DATABASE_UNREACHABLE, "database"):
            return  # nothing else can be checked (or recorded) without it
        await self._reachable(BROKER_UNREACHABLE, "broker")
        open_keys = await self._open_keys()
        for destination in self._destinations:
            await self._destination(destination, open_keys)
        await self._dead_letters_cleared(open_keys)
        if isinstance(self._alerting, IncidentAlerting):
            await self._alerting.notify_due()

    async def _reachable(self, key: str, what: str) -> bool:
        ok = False
        with contextlib.suppress(Exception):
            ok = await self._checks[key]()
        now = self._clock.now()
        if ok:
            since = self._down_since.pop(key, None)
            if key in self._raised_here or (key != DATABASE_UNREACHABLE and since is not None):
                self._raised_here.discard(key)
                await self._alerting.resolve(key, f"the {what} is reachable again")
            return True
        since = self._down_since.setdefault(key, now)
        down_for = (now - since).total_seconds()
        if down_for >= self._unreachable_after:
            self._raised_here.add(key)
            await self._alerting.raise_alert(
                key,
                key,
                f"the {what} has been unreachable for {down_for:.0f} s",
                {"since": since.isoformat()},
            )
        return False

    async def _open_keys(self) -> set[str]:
        async with self._db.session() as session:
            keys = await session.scalars(
                select(AlertIncidentRow.key).where(AlertIncidentRow.resolved_at.is_(None))
            )
            return set(keys.all())

    async def _destination(self, destination: str, open_keys: set[str]) -> None:
        key = destination_failing_key(destination)
        async with self._db.session() as session:
            last_ok = await session.scalar(
                _attempts(destination, "delivered").with_only_columns(
                    func.max(DeliveryAttemptRow.id)
                )
            )
            streak = _attempts(destination, "transient").where(
                DeliveryAttemptRow.id > (last_ok or 0)
            )
            first_failure, failures = (
                await session.execute(
                    streak.with_only_columns(func.min(DeliveryAttemptRow.finished_at), func.count())
                )
            ).one()
            last_error = await session.scalar(
                streak.with_only_columns(DeliveryAttemptRow.error)
                .order_by(DeliveryAttemptRow.id.desc())
                .limit(1)
            )
        if not failures:
            if key in open_keys:
                await self._alerting.resolve(key, f"{destination} accepts deliveries again")
            return
        failing_for = (self._clock.now() - first_failure).total_seconds()
        if failing_for >= self._failing_after:
            await self._alerting.raise_alert(
                key,
                DESTINATION_FAILING,
                f"every delivery to {destination} has failed for {failing_for / 60:.1f} min "
                f"({failures} attempts); last error: {last_error or 'none given'}",
                {
                    "destination": destination,
                    "failing_since": first_failure.isoformat(),
                    "last_error": last_error,
                },
            )

    async def _dead_letters_cleared(self, open_keys: set[str]) -> None:
        waiting = {k.split(":", 1)[1]: k for k in open_keys if k.startswith("dead-letter:")}
        if not waiting:
            return
        async with self._db.session() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(DeliveryRow.id, DeliveryRow.status).where(
                            DeliveryRow.id.in_(list(waiting))
                        )
                    )
                ).all()
            )
        for delivery_id, key in waiting.items():
            status = statuses.get(delivery_id)
            if status != "dead":
                verb = {"discarded": "was discarded"}.get(status or "", "was replayed")
                await self._alerting.resolve(key, f"the dead letter {verb} by an operator")


def _attempts(destination: str, outcome: str) -> Select[Any]:
    return (
        select(DeliveryAttemptRow.id)
        .join(DeliveryRow, DeliveryRow.id == DeliveryAttemptRow.delivery_id)
        .where(DeliveryRow.destination == destination, DeliveryAttemptRow.outcome == outcome)
    )
