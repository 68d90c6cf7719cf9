"""Collaboration deviations: found by the deadline check, alerted once, handled by people.

:class:`DeadlineMonitor` evaluates the rule book on every watched episode (one not yet settled
whose last notice is within ``watch_days``). Each late or missing outcome becomes one
``deviations`` row — unique per episode, rule and subject, so two bridge processes checking at
once still make one — and, in the same transaction, one routed alert: a ``deviation`` message
with its outbox rows for every destination the routing file names for it (source ``bridge``),
plus an operator alert through the alert outbox. Delivery then works as for any notice: retries,
dead letters, idempotency key, receipts. A deviation that was missing and whose notice arrives
after all is updated to late (how late, when done); it is not alerted again.

:class:`Deviations` is what quality staff use (CLI ``bridge deviations``, the ops pages): list,
show, comment, close and reopen. Every comment, closing and reopening keeps who and why, in
``deviation_notes`` and in the audit log (actor = the person).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.deadlines import (
    DEFAULT_RULE_BOOK,
    Outcome,
    RuleBook,
    Verdict,
    evaluate,
    merge_rule_book,
    settled,
)
from bridge.domain.deviation_message import (
    BRIDGE,
    Deviation,
    detected_issue,
    deviation_event,
    encode_deviation_bundle,
)
from bridge.domain.episodes import EpisodeFacts, Unit
from bridge.domain.fhir.encode import dumps
from bridge.domain.model import CareTransitionEvent
from bridge.domain.routing import PayloadFormat, RoutingTable
from bridge.service.care.episodes import load_facts
from bridge.service.clock import Clock
from bridge.service.delivery.outbound import FHIR_JSON
from bridge.service.delivery.outbox import OutboxEntry, add_to_outbox
from bridge.service.operations import alert_outbox, audit
from bridge.service.operations.incident_keys import deviations_key
from bridge.store.db import Database
from bridge.store.tables import (
    CareEpisodeRow,
    DeviationNoteRow,
    DeviationRow,
    MessageRow,
)

log = logging.getLogger(__name__)

DEVIATION_SOURCE = BRIDGE
"""The routing source of deviation alerts: route ``deviation`` events from ``bridge``."""


class RuleFileError(Exception):
    """The deadline rules file is wrong; start-up stops with this message."""


def load_rule_book(path: Path | None) -> RuleBook:
    """The defaults from the law, with the rules file (YAML or JSON) applied over them."""
    if path is None:
        return DEFAULT_RULE_BOOK
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RuleFileError(f"{path}: cannot read deadline rules: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RuleFileError(f"{path}: not YAML/JSON: {error}") from None
    if data is not None and not isinstance(data, dict):
        raise RuleFileError(f"{path}: expected a mapping with rules, indicators, watch_days")
    try:
        return merge_rule_book(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RuleFileError(f"{path}: {where}: {first['msg']}") from None
    except ValueError as error:
        raise RuleFileError(f"{path}: {error}") from None


@dataclass(frozen=True)
class CheckReport:
    episodes: int
    opened: tuple[str, ...]
    updated: int


class DeadlineMonitor:
    """Finds missed deadlines and turns each into one deviation with one routed alert."""

    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        clock: Clock,
        rules: RuleBook,
        *,
        source_endpoint: str,
        batch: int = 200,
        on_alert: Sequence[asyncio.Event] = (),
    ) -> None:
        self._db = db
        self._routing = routing
        self._clock = clock
        self.rules = rules
        self._endpoint = source_endpoint
        self._batch = batch
        self._wake = tuple(on_alert)

    def use_routing(self, routing: RoutingTable) -> None:
        """Route deviation alerts by ``routing`` from now on (a reloaded routing file)."""
        self._routing = routing

    async def run(self, interval: float) -> None:
        """Check forever, every ``interval`` seconds."""
        while True:
            try:
                await self.check()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("deadline check paused: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(interval)

    async def check(self) -> CheckReport:
        """One pass over every watched episode at the clock's ``now``."""
        now = self._clock.now()
        since = now - timedelta(days=self.rules.watch_days)
        async with self._db.session() as session:
            ids = list(
                await session.scalars(
                    select(CareEpisodeRow.id)
                    .where(
                        CareEpisodeRow.settled.is_(False), CareEpisodeRow.last_notice_at >= since
                    )
                    .order_by(CareEpisodeRow.last_notice_at)
                )
            )
        opened: list[str] = []
        updated = 0
        for start in range(0, len(ids), self._batch):
            chunk = ids[start : start + self._batch]
            async with self._db.session() as session:
                stays = await load_facts(session, chunk)
                known = await _known(session, chunk)
            for stay in stays:
                outcomes = evaluate(self.rules, stay, now)
                work = _Work.of(outcomes, known.get(stay.episode_id, {}))
                if work.new or work.changed or work.settled:
                    new, changed = await self._write(stay, work, now)
                    opened += new
                    updated += changed
        if opened:
            for event in self._wake:
                event.set()
        return CheckReport(len(ids), tuple(opened), updated)

    async def _write(self, stay: EpisodeFacts, work: _Work, now: datetime) -> tuple[list[str], int]:
        """Record one episode's new and changed deviations in one transaction."""
        try:
            async with self._db.session() as session, session.begin():
                opened = [await self._open(session, stay, outcome, now) for outcome in work.new]
                changed = 0
                for outcome in work.changed:
                    row = await session.scalar(
                        select(DeviationRow).where(
                            DeviationRow.episode_id == stay.episode_id,
                            DeviationRow.rule_id == outcome.rule.id,
                            DeviationRow.subject == outcome.subject,
                        )
                    )
                    if row is not None and _update_late(row, outcome, now):
                        changed += 1
                if work.settled:
                    await session.execute(
                        update(CareEpisodeRow)
                        .where(CareEpisodeRow.id == stay.episode_id)
                        .values(settled=True)
                    )
        except IntegrityError:
            # Another process recorded the same deviation first: it alerts, this one does not.
            log.info("deviation of episode %s recorded by another process", stay.episode_id)
            return [], 0
        return opened, changed

    async def _open(
        self, session: AsyncSession, stay: EpisodeFacts, outcome: Outcome, now: datetime
    ) -> str:
        episode = await session.get(CareEpisodeRow, stay.episode_id)
        assert episode is not None
        deviation = Deviation.from_outcome(
            outcome, deviation_id=str(uuid.uuid4()), episode_id=stay.episode_id, detected_at=now
        )
        row = _row(deviation, outcome, episode, now)
        session.add(row)
        await session.flush()
        row.alert_message_id = await self._alert(session, deviation, episode, now)
        audit.record(
            session,
            at=now,
            action="deviation_opened",
            message_id=row.alert_message_id,
            deviation_id=deviation.id,
            rule=deviation.rule_id,
            kind=deviation.kind,
            late_by_seconds=row.late_by_seconds,
            responsible=deviation.responsible,
            patient=episode.patient_masked,
        )
        # One operator alert per unit and rule while any of them is open (alert_rules.py
        # resolves it), not one per deviation: the routed deviation message is per patient.
        unit = deviation.sending_unit.key if deviation.sending_unit else "unknown"
        alert_outbox.raise_later(
            session,
            at=now,
            key=deviations_key(unit, deviation.rule_id),
            kind="deviation",
            summary=f"collaboration deviations of {deviation.rule_id} at {unit}; first: "
            f"{deviation.describe()}",
            detail={"unit": unit, "rule": deviation.rule_id, "first_deviation": deviation.id},
        )
        log.warning("deviation %s: %s", deviation.id, deviation.describe())
        return deviation.id

    async def _alert(
        self, session: AsyncSession, deviation: Deviation, episode: CareEpisodeRow, now: datetime
    ) -> str | None:
        """The routed alert: a ``deviation`` message and its outbox rows (FHIR destinations)."""
        stay = await stay_event(session, episode)
        if stay is None:
            return None
        event = deviation_event(stay, deviation)
        source = self._routing.source_of(event.origin) or DEVIATION_SOURCE
        destinations = self._routing.route(event, source)
        message_id = await store_own_message(
            session,
            event,
            episode,
            source=source,
            entrypoint="deadlines",
            payload=detected_issue(deviation, None, None),
            correlation_id=deviation.id,
            destinations=[d.name for d in destinations],
            now=now,
        )
        order_key = f"deviation:{episode.patient_key}"[:64]
        for destination in destinations:
            if destination.format is not PayloadFormat.FHIR:
                log.error("deviation alerts are FHIR only; not sent to %s", destination.name)
                continue
            await self._add_delivery(
                session, event, deviation, message_id, order_key, now, destination.name
            )
        return message_id

    async def _add_delivery(
        self,
        session: AsyncSession,
        event: CareTransitionEvent,
        deviation: Deviation,
        message_id: str,
        order_key: str,
        now: datetime,
        name: str,
    ) -> None:
        destination = self._routing.destination(name)
        delivery_id = str(uuid.uuid4())
        idempotency_key = str(uuid.uuid4())
        bundle = encode_deviation_bundle(
            event,
            deviation,
            bundle_id=delivery_id,
            idempotency_key=idempotency_key,
            source_name=BRIDGE,
            source_endpoint=self._endpoint,
            destination_name=destination.name,
            destination_endpoint=destination.address,
            now=now,
        )
        entry = OutboxEntry(
            delivery_id=delivery_id,
            idempotency_key=idempotency_key,
            message_id=message_id,
            destination=name,
            patient_key=order_key,
            content_type=FHIR_JSON,
            body=dumps(bundle).decode(),
            header_id=str(bundle["entry"][0]["resource"]["id"]),
        )
        await add_to_outbox(session, entry, now)


@dataclass(frozen=True)
class _Work:
    """What one episode's check has to write: new deviations, changed ones, settled or not."""

    new: list[Outcome]
    changed: list[Outcome]
    settled: bool

    @classmethod
    def of(cls, outcomes: list[Outcome], known: dict[tuple[str, str], _Known]) -> _Work:
        new, changed = [], []
        for outcome in outcomes:
            if not outcome.is_deviation:
                continue
            found = known.get((outcome.rule.id, outcome.subject))
            if found is None:
                new.append(outcome)
            elif found.kind == Verdict.MISSING.value and outcome.verdict is Verdict.LATE:
                changed.append(outcome)
        return cls(new, changed, settled(outcomes))


@dataclass(frozen=True)
class _Known:
    kind: str


async def _known(
    session: AsyncSession, episode_ids: list[str]
) -> dict[str, dict[tuple[str, str], _Known]]:
    """The deviations already recorded for these episodes."""
    rows = await session.execute(
        select(
            DeviationRow.episode_id,
            DeviationRow.rule_id,
            DeviationRow.subject,
            DeviationRow.kind,
        ).where(DeviationRow.episode_id.in_(episode_ids))
    )
    found: dict[str, dict[tuple[str, str], _Known]] = {}
    for episode_id, rule_id, subject, kind in rows:
        found.setdefault(episode_id, {})[(rule_id, subject)] = _Known(kind)
    return found


async def store_own_message(
    session: AsyncSession,
    event: CareTransitionEvent,
    episode: CareEpisodeRow,
    *,
    source: str,
    entrypoint: str,
    payload: dict[str, Any],
    correlation_id: str,
    destinations: list[str],
    now: datetime,
) -> str:
    """A message the bridge itself sends about a stay (a deviation alert, detected or reported
    by staff): its message row and the audit's ``routed`` entry, flushed; its id."""
    message_id = str(uuid.uuid4())
    session.add(
        MessageRow(
            id=message_id,
            dedupe_key=event.dedupe_key,
            source=source,
            entrypoint=entrypoint,
            content_type=FHIR_JSON,
            event_code=event.event.value,
            patient_key=episode.patient_key,
            patient_masked=episode.patient_masked,
            protected=bool(event.patient and event.patient.is_protected),
            payload=json.dumps(payload, ensure_ascii=False),
            canonical=event.model_dump_json(),
            correlation_id=correlation_id[:64],
            received_at=now,
        )
    )
    audit.record(session, at=now, action="routed", message_id=message_id, destinations=destinations)
    await session.flush()
    return message_id


async def stay_event(session: AsyncSession, episode: CareEpisodeRow) -> CareTransitionEvent | None:
    """The stay's latest notice as a canonical event: its patient and encounter."""
    canonical = await session.scalar(
        select(MessageRow.canonical).where(MessageRow.id == episode.last_message_id)
    )
    if not canonical:  # none, or pruned by the retention
        return None
    return CareTransitionEvent.model_validate_json(canonical)


def _row(
    deviation: Deviation, outcome: Outcome, episode: CareEpisodeRow, now: datetime
) -> DeviationRow:
    unit = deviation.sending_unit
    return DeviationRow(
        id=deviation.id,
        episode_id=episode.id,
        rule_id=deviation.rule_id,
        subject=outcome.subject,
        rule_title=deviation.rule_title,
        category=deviation.category,
        kind=deviation.kind,
        failed_step=deviation.failed_step,
        responsible=deviation.responsible,
        patient_key=episode.patient_key,
        patient_masked=episode.patient_masked,
        sending_unit_hsa_id=unit.hsa_id if unit else None,
        sending_unit_name=unit.name if unit else None,
        receivers=",".join(deviation.receivers)[:200],
        anchor_at=deviation.anchor_at,
        deadline_at=deviation.deadline_at,
        done_at=deviation.done_at,
        late_by_seconds=_seconds(deviation.late_by),
        detected_at=now,
        status="open",
        updated_at=now,
    )


def _update_late(row: DeviationRow, outcome: Outcome, now: datetime) -> bool:
    """A missing notice that came after all: record when, and how late it was (no new alert).
    A deviation still missing keeps the lateness it had when detected."""
    if row.kind != Verdict.MISSING.value or outcome.verdict is not Verdict.LATE:
        return False
    row.kind = Verdict.LATE.value
    row.done_at = outcome.done_at
    row.late_by_seconds = _seconds(outcome.late_by or timedelta())
    row.updated_at = now
    return True


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


# --- for people: list, show, comment, close, reopen -------------------------------------------


class DeviationNotFound(LookupError):
    """No deviation with this id."""


class DeviationStateError(Exception):
    """Closing a closed deviation, reopening an open one."""


@dataclass(frozen=True)
class DeviationView:
    """A deviation as quality staff see it (personnummer masked)."""

    id: str
    episode_id: str
    rule_id: str
    rule_title: str
    category: str
    kind: str
    failed_step: str
    responsible: str
    patient: str
    sending_unit: Unit | None
    receivers: tuple[str, ...]
    anchor_at: datetime
    deadline_at: datetime
    done_at: datetime | None
    late_by: timedelta
    detected_at: datetime
    status: str
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None
    alert_message_id: str | None

    @property
    def responsible_unit(self) -> str:
        if self.responsible == "receiver":
            return ", ".join(self.receivers)
        return self.sending_unit.label if self.sending_unit else ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form the CLI and the ops API both give."""
        return {
            "id": self.id,
            "status": self.status,
            "rule": self.rule_id,
            "title": self.rule_title,
            "category": self.category,
            "kind": self.kind,
            "failed_step": self.failed_step,
            "responsible": self.responsible,
            "responsible_unit": self.responsible_unit,
            "patient": self.patient,
            "sending_unit": self.sending_unit.label if self.sending_unit else None,
            "receivers": list(self.receivers),
            "deadline_at": self.deadline_at.isoformat(),
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "late_by_minutes": round(self.late_by.total_seconds() / 60, 1),
            "detected_at": self.detected_at.isoformat(),
            "closed_by": self.closed_by,
            "close_reason": self.close_reason,
            "alert_message_id": self.alert_message_id,
            "episode_id": self.episode_id,
        }


@dataclass(frozen=True)
class DeviationNote:
    at: datetime
    author: str
    action: str
    text: str


@dataclass(frozen=True)
class DeviationFilter:
    """Which deviations; every field left None matches all. Times compare with detection."""

    status: str | None = None
    unit: str | None = None
    rule: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500


class Deviations:
    """What quality staff do with deviations; every change audited with the person's name."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def find(self, where: DeviationFilter = DeviationFilter()) -> list[DeviationView]:
        query = select(DeviationRow).order_by(DeviationRow.detected_at.desc()).limit(where.limit)
        if where.status:
            query = query.where(DeviationRow.status == where.status)
        if where.unit:
            query = query.where(DeviationRow.sending_unit_hsa_id == where.unit)
        if where.rule:
            query = query.where(DeviationRow.rule_id == where.rule)
        if where.since:
            query = query.where(DeviationRow.detected_at >= where.since)
        if where.until:
            query = query.where(DeviationRow.detected_at < where.until)
        async with self._db.session() as session:
            return [_view(row) for row in await session.scalars(query)]

    async def show(self, deviation_id: str) -> tuple[DeviationView, list[DeviationNote]]:
        async with self._db.session() as session:
            row = await session.get(DeviationRow, deviation_id)
            if row is None:
                raise DeviationNotFound(deviation_id)
            notes = await session.scalars(
                select(DeviationNoteRow)
                .where(DeviationNoteRow.deviation_id == deviation_id)
                .order_by(DeviationNoteRow.id)
            )
            return _view(row), [DeviationNote(n.at, n.author, n.action, n.text) for n in notes]

    async def comment(self, deviation_id: str, *, by: str, text: str) -> None:
        await self._note(deviation_id, by, text, "comment")

    async def close(self, deviation_id: str, *, by: str, reason: str) -> None:
        await self._note(deviation_id, by, reason, "closed")

    async def reopen(self, deviation_id: str, *, by: str, reason: str) -> None:
        await self._note(deviation_id, by, reason, "reopened")

    async def _note(self, deviation_id: str, by: str, text: str, action: str) -> None:
        by, text = by.strip(), text.strip()
        if not by:
            raise ValueError("say who you are (the person, for the audit log)")
        if not text:
            raise ValueError("say why (a comment or a reason is required)")
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            row = await session.get(DeviationRow, deviation_id, with_for_update=True)
            if row is None:
                raise DeviationNotFound(deviation_id)
            if action == "closed" and row.status == "closed":
                raise DeviationStateError(f"deviation {deviation_id} is already closed")
            if action == "reopened" and row.status != "closed":
                raise DeviationStateError(f"deviation {deviation_id} is not closed")
            if action == "closed":
                row.status, row.closed_at, row.closed_by, row.close_reason = (
                    "closed",
                    now,
                    by,
                    text,
                )
            elif action == "reopened":
                row.status, row.closed_at, row.closed_by, row.close_reason = (
                    "open",
                    None,
                    None,
                    None,
                )
            row.updated_at = now
            session.add(
                DeviationNoteRow(
                    deviation_id=deviation_id, at=now, author=by, action=action, text=text
                )
            )
            audit.record(
                session,
                at=now,
                action=f"deviation_{action}",
                message_id=row.alert_message_id,
                actor=by,
                deviation_id=deviation_id,
                rule=row.rule_id,
                text=text,
            )


def _view(row: DeviationRow) -> DeviationView:
    unit = None
    if row.sending_unit_hsa_id or row.sending_unit_name:
        unit = Unit(row.sending_unit_hsa_id, row.sending_unit_name)
    return DeviationView(
        id=row.id,
        episode_id=row.episode_id,
        rule_id=row.rule_id,
        rule_title=row.rule_title,
        category=row.category,
        kind=row.kind,
        failed_step=row.failed_step,
        responsible=row.responsible,
        patient=row.patient_masked,
        sending_unit=unit,
        receivers=tuple(filter(None, row.receivers.split(","))),
        anchor_at=row.anchor_at,
        deadline_at=row.deadline_at,
        done_at=row.done_at,
        late_by=timedelta(seconds=row.late_by_seconds),
        detected_at=row.detected_at,
        status=row.status,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        close_reason=row.close_reason,
        alert_message_id=row.alert_message_id,
    )
