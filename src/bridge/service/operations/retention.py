"""Retention: patient data in payloads is removed after a period per data class.

Nothing used to be removed: every payload with patient data accumulated for ever (issue 13).
Four classes hold copies of what was sent or received; each is pruned (its text emptied, the
row kept) once it is older than its period:

==============  ==================================================  =======  ==================
class           what                                                 default  age counted from
==============  ==================================================  =======  ==================
``payloads``    ``messages.payload``: the raw inbound message        90 days  received_at
``canonical``   ``messages.canonical``: the decoded canonical copy   90 days  received_at
``outbound``    ``deliveries.payload``: what was sent, once settled  90 days  updated_at
``outcomes``    ``message_outcomes.payload_masked`` (masked)         90 days  received_at
==============  ==================================================  =======  ==================

What stays, whatever its age: the audit log (metadata only, and its hash chain must verify
after a prune), every row's metadata (ids, times, states, masked patient, pseudonymous key),
care episodes and their notices (the indicators are counted from them, never from payloads),
and the payloads still needed for work: a message with a delivery not yet settled (pending, in
flight, dead), and the canonical copy of a stay's latest notice while the deadline check still
watches it (deviation alerts are built from it).

A pruned text is the empty string. ``bridge prune --dry-run`` counts what a prune would remove;
a prune writes one ``pruned`` audit row per class with the count and the cut-off. Rows go in
batches, each its own short transaction, so a prune never holds locks for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from bridge.config import Settings
from bridge.service.clock import Clock
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import CareEpisodeRow, DeliveryRow, MessageOutcomeRow, MessageRow

log = logging.getLogger(__name__)

PRUNED = ""
SETTLED = ("delivered", "discarded")
BATCH = 500


class DataClass(StrEnum):
    PAYLOADS = "payloads"
    CANONICAL = "canonical"
    OUTBOUND = "outbound"
    OUTCOMES = "outcomes"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each class is kept; None keeps it for ever."""

    payloads: float | None = 90
    canonical: float | None = 90
    outbound: float | None = 90
    outcomes: float | None = 90

    def days(self, data: DataClass) -> float | None:
        value: float | None = getattr(self, data.value)
        return value


def policy_from(settings: Settings) -> RetentionPolicy:
    """The BRIDGE_RETENTION_*_DAYS settings (0: for ever)."""

    def days(value: float) -> float | None:
        return value or None

    return RetentionPolicy(
        payloads=days(settings.retention_payloads_days),
        canonical=days(settings.retention_canonical_days),
        outbound=days(settings.retention_outbound_days),
        outcomes=days(settings.retention_outcomes_days),
    )


@dataclass(frozen=True)
class PruneCount:
    data: DataClass
    cutoff: datetime | None  # None: kept for ever
    rows: int


class Retention:
    def __init__(
        self, db: Database, clock: Clock, policy: RetentionPolicy, *, watch_days: float = 60
    ) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._watch = timedelta(days=watch_days)

    async def count(self) -> list[PruneCount]:
        """What a prune now would remove, per class; writes nothing."""
        now = self._clock.now()
        counts: list[PruneCount] = []
        async with self._db.session() as session:
            for data in DataClass:
                cutoff = self._cutoff(data, now)
                if cutoff is None:
                    counts.append(PruneCount(data, None, 0))
                    continue
                _, key, _, where = _target(data, cutoff, now - self._watch)
                number = await session.scalar(select(func.count(key)).where(*where))
                counts.append(PruneCount(data, cutoff, int(number or 0)))
        return counts

    async def prune(self, *, actor: str = audit.SYSTEM) -> list[PruneCount]:
        """Remove what is past its period, per class, in batches; one audit row per class."""
        now = self._clock.now()
        done: list[PruneCount] = []
        for data in DataClass:
            cutoff = self._cutoff(data, now)
            if cutoff is None:
                done.append(PruneCount(data, None, 0))
                continue
            total = 0
            while True:
                pruned = await self._batch(data, cutoff)
                total += pruned
                if pruned < BATCH:
                    break
            async with self._db.session() as session, session.begin():
                audit.record(
                    session,
                    at=self._clock.now(),
                    action="pruned",
                    actor=actor,
                    data_class=data.value,
                    rows=total,
                    older_than=cutoff.isoformat(),
                    kept_days=self._policy.days(data),
                )
            done.append(PruneCount(data, cutoff, total))
        log.info("retention: pruned %s", ", ".join(f"{c.data.value} {c.rows}" for c in done))
        return done

    async def run(self, interval: float) -> None:
        """Prune every ``interval`` seconds (``bridge serve``); the first pass after one interval,
        so replicas starting together do not all prune at once at start-up. Concurrent prunes
        in several processes are harmless: each batch only empties what is not empty yet."""
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(OperationalError, DBAPIError, OSError):
                await self.prune()

    def _cutoff(self, data: DataClass, now: datetime) -> datetime | None:
        days = self._policy.days(data)
        return None if days is None else now - timedelta(days=days)

    async def _batch(self, data: DataClass, cutoff: datetime) -> int:
        watched_since = self._clock.now() - self._watch
        table, key, column, where = _target(data, cutoff, watched_since)
        async with self._db.session() as session, session.begin():
            ids = list(
                (await session.scalars(select(key).where(*where).order_by(key).limit(BATCH))).all()
            )
            if not ids:
                return 0
            await session.execute(
                update(table)
                .where(key.in_(ids), *where)
                .values({column: PRUNED})
                .execution_options(synchronize_session=False)
            )
        return len(ids)


def _target(
    data: DataClass, cutoff: datetime, watched_since: datetime
) -> tuple[Any, Any, str, list[ColumnElement[bool]]]:
    """The table, its key, the column pruned, and which rows are due (a stay's latest notice
    stays while the deadline check watches the stay: unsettled, last notice within watch_days)."""
    if data is DataClass.OUTBOUND:
        return (
            DeliveryRow,
            DeliveryRow.id,
            "payload",
            [
                DeliveryRow.payload != PRUNED,
                DeliveryRow.status.in_(SETTLED),
                DeliveryRow.updated_at < cutoff,
            ],
        )
    if data is DataClass.OUTCOMES:
        return (
            MessageOutcomeRow,
            MessageOutcomeRow.id,
            "payload_masked",
            [MessageOutcomeRow.payload_masked != PRUNED, MessageOutcomeRow.received_at < cutoff],
        )
    column = "payload" if data is DataClass.PAYLOADS else "canonical"
    where: list[ColumnElement[bool]] = [
        getattr(MessageRow, column) != PRUNED,
        MessageRow.received_at < cutoff,
        ~exists().where(
            DeliveryRow.message_id == MessageRow.id, DeliveryRow.status.not_in(SETTLED)
        ),
    ]
    if data is DataClass.CANONICAL:
        where.append(
            ~exists().where(
                CareEpisodeRow.last_message_id == MessageRow.id,
                CareEpisodeRow.settled.is_(False),
                CareEpisodeRow.last_notice_at >= watched_since,
            )
        )
    return MessageRow, MessageRow.id, column, where
