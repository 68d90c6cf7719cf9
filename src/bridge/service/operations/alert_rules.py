"""Alert rules, checked every few seconds by every bridge process (the port dedupes):

- **database unreachable** / **broker unreachable** for longer than ``unreachable_after``;
- **destination failing**: every delivery attempt to a destination has failed (transiently)
  since its last success, and the first of those failures is older than ``failing_after``
  (default 30 s, so with a check every 10 s the alert is out within a minute); it carries how
  many notices wait and how old the oldest is, is repeated every ``repeat_every`` while it
  lasts, and is resolved by the next successful delivery, however many retries happen in
  between: one alert and one recovery per outage. A paused destination is left alone;
- **dead letters**: the delivery worker raises ``dead-letters:<destination>:<reason>`` when
  notices die; the incident is resolved here once none of that group has been left for
  ``quiet_for`` (replayed or discarded), so a replay that fails again raises nothing new;
- **deviations**: ``deviations:<unit>:<rule>`` is resolved once none of that group is open;
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
from bridge.service.delivery.pauses import WAITING, paused_destinations
from bridge.service.operations.alerts import DATABASE_UNREACHABLE, Alerting, IncidentAlerting
from bridge.service.operations.incident_keys import (
    DEAD_LETTERS,
    DESTINATION_FAILING,
    DEVIATIONS,
    destination_failing_key,
    parts,
)
from bridge.store.db import Database
from bridge.store.tables import AlertIncidentRow, DeliveryAttemptRow, DeliveryRow, DeviationRow

log = logging.getLogger(__name__)

BROKER_UNREACHABLE = "broker-unreachable"
__all__ = ["BROKER_UNREACHABLE", "DESTINATION_FAILING", "AlertRules", "destination_failing_key"]


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
        repeat_every: float = 1800.0,
        quiet_for: float = 300.0,
    ) -> None:
        self._db = db
        self._alerting = alerting
        self._clock = clock
        self._destinations = destinations
        self._checks = {DATABASE_UNREACHABLE: database_ok, BROKER_UNREACHABLE: broker_ok}
        self._failing_after = failing_after
        self._unreachable_after = unreachable_after
        self._repeat_every = repeat_every
        self._quiet_for = quiet_for
        self._empty_since: dict[str, datetime] = {}
        self._down_since: dict[str, datetime] = {}
        self._raised_here: set[str] = set()

    def use_destinations(self, destinations: list[str]) -> None:
        """The destinations of a reloaded routing file."""
        self._destinations = destinations

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
        async with self._db.session() as session:
            paused = await paused_destinations(session)
        for destination in list(self._destinations):
            if destination not in paused:
                await self._destination(destination, open_keys)
        await self._dead_letters_cleared(open_keys)
        await self._dead_letter_groups_cleared(open_keys)
        await self._deviation_groups_cleared(open_keys)
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
            failing_for = (self._clock.now() - first_failure).total_seconds() if failures else 0.0
            due = bool(failures) and failing_for >= self._failing_after
            if due:
                last_error = await session.scalar(
                    streak.with_only_columns(DeliveryAttemptRow.error)
                    .order_by(DeliveryAttemptRow.id.desc())
                    .limit(1)
                )
                waiting, oldest = (
                    await session.execute(
                        select(func.count(), func.min(DeliveryRow.created_at)).where(
                            DeliveryRow.destination == destination,
                            DeliveryRow.status.in_(WAITING),
                        )
                    )
                ).one()
        if not failures:
            if key in open_keys:
                await self._alerting.resolve(key, f"{destination} accepts deliveries again")
            return
        if not due:
            return  # failing, but not for long enough yet
        oldest_age = (self._clock.now() - oldest).total_seconds() if oldest else 0.0
        summary = (
            f"every delivery to {destination} has failed for {failing_for / 60:.1f} min "
            f"({failures} attempts); {waiting} notice(s) waiting, the oldest "
            f"{oldest_age / 60:.1f} min old; last error: {last_error or 'none given'}"
        )
        detail = {
            "destination": destination,
            "failing_since": first_failure.isoformat(),
            "waiting": int(waiting),
            "oldest_waiting_seconds": round(oldest_age),
            "last_error": last_error,
        }
        if key not in open_keys:
            await self._alerting.raise_alert(key, DESTINATION_FAILING, summary, detail)
        elif isinstance(self._alerting, IncidentAlerting):
            await self._alerting.remind(key, summary, detail, self._repeat_every)

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

    async def _dead_letter_groups_cleared(self, open_keys: set[str]) -> None:
        """Resolve a dead-letter group once none of it has been left for ``quiet_for``."""
        groups = {
            key: group
            for key in open_keys
            if (group := parts(key, DEAD_LETTERS)) is not None and len(group) == 2
        }
        for key in set(self._empty_since) - set(groups):
            self._empty_since.pop(key, None)
        if not groups:
            return
        async with self._db.session() as session:
            left = {
                (row[0], row[1])
                for row in (
                    await session.execute(
                        select(DeliveryRow.destination, DeliveryRow.dead_reason)
                        .where(DeliveryRow.status == "dead")
                        .group_by(DeliveryRow.destination, DeliveryRow.dead_reason)
                    )
                ).all()
            }
        now = self._clock.now()
        for key, (destination, reason) in groups.items():
            if (destination, reason) in left:
                self._empty_since.pop(key, None)
                continue
            since = self._empty_since.setdefault(key, now)
            if (now - since).total_seconds() >= self._quiet_for:
                self._empty_since.pop(key, None)
                await self._alerting.resolve(
                    key, f"no dead letters to {destination} ({reason}) are left"
                )

    async def _deviation_groups_cleared(self, open_keys: set[str]) -> None:
        groups = {
            key: group
            for key in open_keys
            if (group := parts(key, DEVIATIONS)) is not None and len(group) == 2
        }
        if not groups:
            return
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(
                        DeviationRow.sending_unit_hsa_id,
                        DeviationRow.sending_unit_name,
                        DeviationRow.rule_id,
                    )
                    .where(DeviationRow.status == "open")
                    .distinct()
                )
            ).all()
        left = {(hsa or name or "unknown", rule) for hsa, name, rule in rows}
        for key, (unit, rule) in groups.items():
            if (unit, rule) not in left:
                await self._alerting.resolve(key, f"no open deviations of {rule} at {unit}")


def _attempts(destination: str, outcome: str) -> Select[Any]:
    return (
        select(DeliveryAttemptRow.id)
        .join(DeliveryRow, DeliveryRow.id == DeliveryAttemptRow.delivery_id)
        .where(DeliveryRow.destination == destination, DeliveryAttemptRow.outcome == outcome)
    )
