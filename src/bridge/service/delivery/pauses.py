"""Pause and resume a destination: its backlog waits, then drains in order.

A paused destination gets no attempts: the relay releases none of its notices and a worker that
claims a task already in the broker puts it back. Nothing of it is dead-lettered while paused.
Its maximum age does not run out while it is paused: resuming starts a fresh retry window for
every notice waiting for it (as a replay does), so a pause of any length costs no notice. The
pause is kept in the database (``destination_pauses``), so every bridge process obeys it, and
both actions are audited with who did it and why.

Used by ``bridge destinations pause|resume|list`` and the ops page (``/ops/api/destinations``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.service.clock import Clock
from bridge.service.delivery.outbox import fresh_window
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow, DestinationPauseRow

WAITING = ("pending", "queued", "in_flight")


class UnknownDestination(LookupError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"no destination {name!r} in the routing (known: {', '.join(known)})")


class PauseConflict(Exception):
    """Pausing a paused destination, or resuming one that is not paused."""


@dataclass(frozen=True)
class DestinationState:
    name: str
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    reason: str | None
    waiting: int
    oldest_waiting: datetime | None


async def paused_destinations(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(DestinationPauseRow.destination))).all())


class DestinationPauses:
    """The operator's switch per destination. ``on_resumed`` wakes the relay (optional)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        destinations: Callable[[], builtins.list[str]],
        on_resumed: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._destinations = destinations
        self._on_resumed = on_resumed

    def _known(self, name: str) -> None:
        known = self._destinations()
        if name not in known:
            raise UnknownDestination(name, known)

    async def pause(self, name: str, *, actor: str, reason: str) -> None:
        """Hold ``name``'s notices. Raises ``ValueError`` without a reason,
        :class:`UnknownDestination`, or :class:`PauseConflict` when it is paused already."""
        if not reason.strip():
            raise ValueError("a reason is required to pause a destination")
        self._known(name)
        now = self._clock.now()
        try:
            async with self._db.session() as session, session.begin():
                await session.execute(
                    insert(DestinationPauseRow).values(
                        destination=name, paused_at=now, paused_by=actor, reason=reason
                    )
                )
                audit.record(
                    session,
                    at=now,
                    action="destination_paused",
                    destination=name,
                    actor=actor,
                    reason=reason,
                )
        except IntegrityError:
            raise PauseConflict(f"destination {name} is paused already") from None

    async def resume(self, name: str, *, actor: str, reason: str = "") -> int:
        """Let ``name``'s notices go again; returns how many were waiting. Each gets a fresh
        retry window (the pause did not use up its maximum age)."""
        self._known(name)
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            gone = await session.execute(
                delete(DestinationPauseRow)
                .where(DestinationPauseRow.destination == name)
                .returning(DestinationPauseRow.paused_at)
            )
            paused_at = gone.scalar_one_or_none()
            if paused_at is None:
                raise PauseConflict(f"destination {name} is not paused")
            waiting = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.destination == name, DeliveryRow.status == "pending")
                .values(**fresh_window(now))
            )
            count = int(getattr(waiting, "rowcount", 0) or 0)
            audit.record(
                session,
                at=now,
                action="destination_resumed",
                destination=name,
                actor=actor,
                reason=reason,
                paused_seconds=round((now - paused_at).total_seconds()),
                waiting=count,
            )
        if self._on_resumed is not None:
            self._on_resumed()
        return count

    async def list(self) -> builtins.list[DestinationState]:
        """Every destination in the routing, with its pause and its waiting backlog."""
        async with self._db.session() as session:
            pauses = {
                row.destination: row
                for row in (await session.scalars(select(DestinationPauseRow))).all()
            }
            backlog = {
                row.destination: (int(row.n), row.oldest)
                for row in (
                    await session.execute(
                        select(
                            DeliveryRow.destination,
                            func.count().label("n"),
                            func.min(DeliveryRow.created_at).label("oldest"),
                        )
                        .where(DeliveryRow.status.in_(WAITING))
                        .group_by(DeliveryRow.destination)
                    )
                ).all()
            }
        states = []
        for name in self._destinations():
            pause = pauses.get(name)
            waiting, oldest = backlog.get(name, (0, None))
            states.append(
                DestinationState(
                    name=name,
                    paused=pause is not None,
                    paused_at=pause.paused_at if pause else None,
                    paused_by=pause.paused_by if pause else None,
                    reason=pause.reason if pause else None,
                    waiting=waiting,
                    oldest_waiting=oldest,
                )
            )
        return states
