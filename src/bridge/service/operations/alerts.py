"""The alerting port: one alert per incident, and a recovery message when it clears.

Services call :meth:`Alerting.raise_alert` whenever they see a problem (as often as they like)
and :meth:`Alerting.resolve` when it is gone; the implementation makes sure a person gets one
message per incident, not one per retry, and :meth:`IncidentAlerting.remind` tells them again
at an interval while it lasts. ``key`` names the incident:

- ``dead-letters:<destination>:<reason>`` (delivery worker; resolved by the rules once none of
  the group is left), ``deviations:<unit>:<rule>`` (deadline check; resolved by the rules):
  grouped, so a wave of notices is one incident (:mod:`.incident_keys`); ``dead-letter:<id>``
  from bridges before that is still resolved by the rules
- ``unreceipted:<delivery id>``, ``receipt-negative:<delivery id>`` (receipts)
- ``destination-failing:<destination>``, ``broker-unreachable``, ``database-unreachable``
  (:mod:`bridge.service.operations.alert_rules`)

:class:`IncidentAlerting` keeps the incidents in the database, so several bridge processes agree:
opening an incident is an insert that a partial unique index (one open incident per key) lets
exactly one process win; resolving is an update only one process sees change a row. The
notifications each incident owes (its alert, later its recovery) are claimed with a short lease
before they are sent and retried until every channel took them. Only ``database-unreachable``
cannot be kept there: it is deduplicated in the process that sees it (each process that loses
the database says so once) and written to the incident history when the database is back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bridge.config import Settings
from bridge.service.clock import Clock
from bridge.service.operations.alert_channels import (
    FIRING,
    RESOLVED,
    AlertNotice,
    LogNotifier,
    Notifier,
    SmtpNotifier,
    SmtpSettings,
    WebhookNotifier,
)
from bridge.store.db import Database
from bridge.store.tables import AlertIncidentRow

log = logging.getLogger(__name__)

DATABASE_UNREACHABLE = "database-unreachable"
# What an incident still owes its people (``notify_state``).
OWES_ALERT = "alert"
OWES_RECOVERY = "recovery"
OWES_NOTHING = "none"
_DB_ERRORS = (OperationalError, DBAPIError, OSError)


class Alerting(Protocol):
    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None: ...

    async def resolve(self, key: str, summary: str = "") -> None: ...


class LogAlerting:
    """Writes alerts to the log only, once per open incident (for tests and tools)."""

    def __init__(self) -> None:
        self._open: set[str] = set()

    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None:
        if key in self._open:
            return
        self._open.add(key)
        log.error("ALERT %s [%s]: %s", key, kind, summary)

    async def resolve(self, key: str, summary: str = "") -> None:
        if key in self._open:
            self._open.discard(key)
            log.warning("RESOLVED %s: %s", key, summary)


@dataclass
class _LocalIncident:
    kind: str
    summary: str
    detail: dict[str, Any]
    opened_at: datetime
    sent: set[str] = field(default_factory=set)


class IncidentAlerting:
    """The alerting port on the database: one alert and one recovery per incident, shared by
    every process; each notice goes to every channel (log, webhook, e-mail) once."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifiers: list[Notifier],
        *,
        source: str = "bridge",
        lease_seconds: float = 30.0,
        retry_seconds: float = 15.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifiers = notifiers
        self._source = source
        self._lease = timedelta(seconds=lease_seconds)
        self._retry = timedelta(seconds=retry_seconds)
        self._process = f"{socket.gethostname()}:{os.getpid()}"
        self._local: dict[str, _LocalIncident] = {}

    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None:
        detail = dict(detail or {})
        if key == DATABASE_UNREACHABLE:
            await self._raise_locally(key, kind, summary, detail)
            return
        now = self._clock.now()
        try:
            async with self._db.session() as session, session.begin():
                row = AlertIncidentRow(
                    key=key,
                    kind=kind,
                    summary=summary,
                    detail=json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True),
                    opened_at=now,
                    last_seen_at=now,
                    notify_state=OWES_ALERT,
                    notify_after=now,
                    notify_attempts=0,
                )
                session.add(row)
        except IntegrityError:
            return  # an incident with this key is open already: it has its alert
        await self._notify_one(row.id)

    async def resolve(self, key: str, summary: str = "") -> None:
        if key == DATABASE_UNREACHABLE:
            await self._resolve_locally(key, summary)
            return
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            incident_id = await session.scalar(
                update(AlertIncidentRow)
                .where(AlertIncidentRow.key == key, AlertIncidentRow.resolved_at.is_(None))
                .values(
                    resolved_at=now,
                    resolution=summary,
                    notify_state=case(
                        (AlertIncidentRow.notify_state == OWES_NOTHING, OWES_RECOVERY),
                        else_=AlertIncidentRow.notify_state,
                    ),
                    notify_after=now,
                    notify_attempts=0,
                )
                .returning(AlertIncidentRow.id)
            )
        if incident_id is not None:
            await self._notify_one(incident_id)

    async def remind(self, key: str, summary: str, detail: dict[str, Any], every: float) -> bool:
        """Tell people again about an incident still open, at most once per ``every`` seconds
        (shared by all processes: ``last_seen_at`` holds when it was last told), with what
        ``summary`` and ``detail`` say now. True when this process sent the reminder.

        Only once its alert went out, and best effort: a reminder a channel refused is not
        retried (the next one is due ``every`` seconds later).
        """
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            row = await session.scalar(
                update(AlertIncidentRow)
                .where(
                    AlertIncidentRow.key == key,
                    AlertIncidentRow.resolved_at.is_(None),
                    AlertIncidentRow.notify_state == OWES_NOTHING,
                    AlertIncidentRow.last_seen_at <= now - timedelta(seconds=every),
                )
                .values(
                    last_seen_at=now,
                    summary=summary,
                    detail=json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True),
                )
                .returning(AlertIncidentRow)
            )
        if row is None:
            return False
        errors = await self._send(self._notice(row, FIRING, repeat=True), set())
        if errors:
            log.warning("reminder of %s not taken by every channel: %s", key, "; ".join(errors))
        return True

    async def open_keys(self) -> list[str]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(AlertIncidentRow.key).where(AlertIncidentRow.resolved_at.is_(None))
            )
            return list(rows.all())

    async def notify_due(self, limit: int = 50) -> int:
        """Send every notification that is owed and not being sent elsewhere; returns sent."""
        now = self._clock.now()
        async with self._db.session() as session:
            due = (
                await session.scalars(
                    select(AlertIncidentRow.id)
                    .where(
                        AlertIncidentRow.notify_state != OWES_NOTHING,
                        AlertIncidentRow.notify_after <= now,
                    )
                    .order_by(AlertIncidentRow.id)
                    .limit(limit)
                )
            ).all()
        sent = 0
        for incident_id in due:
            sent += await self._notify_one(incident_id)
        return sent

    async def _notify_one(self, incident_id: int) -> int:
        """Claim what this incident owes, send it on every channel, record it; 1 if sent."""
        claimed = await self._claim(incident_id)
        if claimed is None:
            return 0
        state, row = claimed
        notice = self._notice(row, FIRING if state == OWES_ALERT else RESOLVED)
        done = {name for name in (row.channels_done or "").split(",") if name}
        errors = await self._send(notice, done)
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            if errors:
                await session.execute(
                    update(AlertIncidentRow)
                    .where(AlertIncidentRow.id == incident_id)
                    .values(
                        notify_after=now + self._retry,
                        notify_attempts=AlertIncidentRow.notify_attempts + 1,
                        last_notify_error="; ".join(errors)[:2000],
                        channels_done=",".join(sorted(done)),
                    )
                )
                return 0
            sent_column = "alert_sent_at" if state == OWES_ALERT else "recovery_sent_at"
            following = (
                case((AlertIncidentRow.resolved_at.is_(None), OWES_NOTHING), else_=OWES_RECOVERY)
                if state == OWES_ALERT
                else OWES_NOTHING
            )
            await session.execute(
                update(AlertIncidentRow)
                .where(AlertIncidentRow.id == incident_id)
                .values(
                    {
                        sent_column: now,
                        "notify_state": following,
                        "notify_after": now,
                        "notify_attempts": 0,
                        "last_notify_error": None,
                        "channels_done": "",
                    }
                )
            )
        if state == OWES_ALERT:
            await self._notify_one(incident_id)  # resolved meanwhile: its recovery is due too
        return 1

    async def _claim(self, incident_id: int) -> tuple[str, AlertIncidentRow] | None:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            row = await session.get(AlertIncidentRow, incident_id)
            if row is None or row.notify_state == OWES_NOTHING or row.notify_after > now:
                return None
            state = row.notify_state
            won = await session.execute(
                update(AlertIncidentRow)
                .where(
                    AlertIncidentRow.id == incident_id,
                    AlertIncidentRow.notify_state == state,
                    AlertIncidentRow.notify_after <= now,
                )
                .values(notify_after=now + self._lease)
            )
            if not getattr(won, "rowcount", 0):
                return None
        return state, row

    async def _send(self, notice: AlertNotice, skip: set[str]) -> list[str]:
        """Send on every channel not in ``skip``; add the ones that took it to ``skip``."""
        errors = []
        for notifier in self._notifiers:
            if notifier.name in skip:
                continue
            try:
                await notifier.notify(notice)
            except Exception as error:
                log.warning("alert channel %s failed: %s", notifier.name, error)
                errors.append(f"{notifier.name}: {error}")
            else:
                skip.add(notifier.name)
        return errors

    def _notice(self, row: AlertIncidentRow, status: str, *, repeat: bool = False) -> AlertNotice:
        return AlertNotice(
            repeat=repeat,
            status=status,
            key=row.key,
            kind=row.kind,
            summary=row.summary,
            detail=json.loads(row.detail),
            opened_at=row.opened_at.isoformat(),
            resolved_at=row.resolved_at.isoformat() if row.resolved_at else None,
            incident=row.id,
            source=self._source,
            resolution=row.resolution,
        )

    async def _raise_locally(
        self, key: str, kind: str, summary: str, detail: dict[str, Any]
    ) -> None:
        """The database is down: dedupe in this process, send straight away."""
        incident = self._local.get(key)
        if incident is None:
            detail["process"] = self._process
            incident = _LocalIncident(kind, summary, detail, self._clock.now())
            self._local[key] = incident
        if len(incident.sent) < len(self._notifiers):
            notice = self._local_notice(key, incident, FIRING, None)
            await self._send(notice, incident.sent)

    async def _resolve_locally(self, key: str, summary: str) -> None:
        incident = self._local.get(key)
        if incident is None:
            return
        now = self._clock.now()
        if incident.sent:
            notice = self._local_notice(key, incident, RESOLVED, summary, now)
            if await self._send(notice, set()):
                return  # a channel failed: try the recovery again on the next check
        del self._local[key]
        await self._remember(key, incident, summary, now)

    def _local_notice(
        self,
        key: str,
        incident: _LocalIncident,
        status: str,
        resolution: str | None,
        resolved_at: datetime | None = None,
    ) -> AlertNotice:
        return AlertNotice(
            status=status,
            key=key,
            kind=incident.kind,
            summary=incident.summary,
            detail=incident.detail,
            opened_at=incident.opened_at.isoformat(),
            resolved_at=resolved_at.isoformat() if resolved_at else None,
            incident=None,
            source=self._source,
            resolution=resolution,
        )

    async def _remember(
        self, key: str, incident: _LocalIncident, summary: str, resolved_at: datetime
    ) -> None:
        """Write a local incident, already told and cleared, to the shared history."""
        try:
            async with self._db.session() as session, session.begin():
                session.add(
                    AlertIncidentRow(
                        key=key,
                        kind=incident.kind,
                        summary=incident.summary,
                        detail=json.dumps(incident.detail, default=str, sort_keys=True),
                        opened_at=incident.opened_at,
                        last_seen_at=resolved_at,
                        resolved_at=resolved_at,
                        resolution=summary,
                        alert_sent_at=incident.opened_at,
                        recovery_sent_at=resolved_at,
                        notify_state=OWES_NOTHING,
                        notify_after=resolved_at,
                        notify_attempts=0,
                    )
                )
        except _DB_ERRORS:
            log.warning("could not record the %s incident in the history", key)


def build_alerting(settings: Settings, db: Database, clock: Clock) -> IncidentAlerting:
    """The alerting port from settings: the log always, a webhook and e-mail when configured."""
    notifiers: list[Notifier] = [LogNotifier()]
    if settings.alert_webhook_url:
        notifiers.append(
            WebhookNotifier(settings.alert_webhook_url, settings.alert_webhook_timeout_seconds)
        )
    recipients = tuple(r.strip() for r in settings.alert_smtp_to.split(",") if r.strip())
    if settings.alert_smtp_host and recipients:
        notifiers.append(
            SmtpNotifier(
                SmtpSettings(
                    host=settings.alert_smtp_host,
                    port=settings.alert_smtp_port,
                    sender=settings.alert_smtp_from,
                    recipients=recipients,
                    username=settings.alert_smtp_username,
                    password=(
                        settings.alert_smtp_password.get_secret_value()
                        if settings.alert_smtp_password
                        else None
                    ),
                    starttls=settings.alert_smtp_starttls,
                )
            )
        )
    return IncidentAlerting(
        db,
        clock,
        notifiers,
        source=settings.source_name,
        retry_seconds=settings.alert_retry_seconds,
    )
