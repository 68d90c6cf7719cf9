"""What the people on call look at: the state per destination and a message search.

Read-only views over the store for the ops dashboard, its JSON API and the CLI. Nothing here
shows a personnummer unmasked; :mod:`bridge.entrypoints.ops` reveals one only to a signed-in
user who opens a message, and audits that read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from bridge.domain.errors import MessageRejected
from bridge.domain.identifiers import mask, normalise_person_number
from bridge.domain.model import CareTransitionEvent, PatientIdentifier
from bridge.service.clock import Clock
from bridge.service.operations import message_outcomes
from bridge.service.patient_key import patient_key
from bridge.store.db import Database
from bridge.store.tables import (
    AlertIncidentRow,
    AuditRow,
    DeliveryAttemptRow,
    DeliveryRow,
    MessageRow,
)

WAITING = ("pending", "queued", "in_flight")
RATE_WINDOW = timedelta(minutes=5)
FAILURE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class DestinationStatus:
    name: str
    waiting: int
    oldest_waiting_seconds: float
    delivered_per_minute: float
    delivered_last_hour: int
    failures_last_hour: int
    last_error: str | None
    last_error_at: datetime | None
    dead_letters: int
    unreceipted: int

    @property
    def health(self) -> str:
        """ok, warning (backlog, failures) or failing (dead letters, unreceipted, old queue)."""
        if self.dead_letters or self.unreceipted or self.oldest_waiting_seconds > 900:
            return "failing"
        if self.failures_last_hour or self.oldest_waiting_seconds > 60:
            return "warning"
        return "ok"


@dataclass(frozen=True)
class Incident:
    key: str
    kind: str
    summary: str
    opened_at: datetime


@dataclass(frozen=True)
class Overview:
    at: datetime
    destinations: list[DestinationStatus]
    incidents: list[Incident]
    accepted_last_hour: int
    rejected_last_hour: int


async def overview(db: Database, clock: Clock, destinations: list[str]) -> Overview:
    now = clock.now()
    async with db.session() as session:
        statuses = [await _destination(session, name, now) for name in destinations]
        incidents = (
            await session.scalars(
                select(AlertIncidentRow)
                .where(AlertIncidentRow.resolved_at.is_(None))
                .order_by(AlertIncidentRow.opened_at.desc())
                .limit(50)
            )
        ).all()
        accepted = await session.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(MessageRow.received_at >= now - FAILURE_WINDOW)
        )
    async with db.session() as session:
        rejected = await session.scalar(
            select(func.count())
            .select_from(AuditRow)
            .where(AuditRow.action == "rejected", AuditRow.at >= now - FAILURE_WINDOW)
        )
    return Overview(
        at=now,
        destinations=statuses,
        incidents=[Incident(i.key, i.kind, i.summary, i.opened_at) for i in incidents],
        accepted_last_hour=int(accepted or 0),
        rejected_last_hour=int(rejected or 0),
    )


async def _destination(session: Any, name: str, now: datetime) -> DestinationStatus:
    mine = DeliveryRow.destination == name
    waiting, oldest = (
        await session.execute(
            select(func.count(), func.min(DeliveryRow.created_at)).where(
                mine, DeliveryRow.status.in_(WAITING)
            )
        )
    ).one()
    recent = await session.scalar(
        select(func.count()).where(mine, DeliveryRow.delivered_at >= now - RATE_WINDOW)
    )
    last_hour = await session.scalar(
        select(func.count()).where(mine, DeliveryRow.delivered_at >= now - FAILURE_WINDOW)
    )
    attempts = (
        select(DeliveryAttemptRow)
        .join(DeliveryRow, DeliveryRow.id == DeliveryAttemptRow.delivery_id)
        .where(mine, DeliveryAttemptRow.outcome != "delivered")
    )
    failures = await session.scalar(
        attempts.where(DeliveryAttemptRow.finished_at >= now - FAILURE_WINDOW).with_only_columns(
            func.count()
        )
    )
    last_failure = await session.scalar(attempts.order_by(DeliveryAttemptRow.id.desc()).limit(1))
    dead = await session.scalar(select(func.count()).where(mine, DeliveryRow.status == "dead"))
    unreceipted = await session.scalar(
        select(func.count()).where(mine, DeliveryRow.receipt_state == "unreceipted")
    )
    return DestinationStatus(
        name=name,
        waiting=int(waiting or 0),
        oldest_waiting_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        delivered_per_minute=int(recent or 0) / (RATE_WINDOW.total_seconds() / 60),
        delivered_last_hour=int(last_hour or 0),
        failures_last_hour=int(failures or 0),
        last_error=last_failure.error if last_failure else None,
        last_error_at=last_failure.finished_at if last_failure else None,
        dead_letters=int(dead or 0),
        unreceipted=int(unreceipted or 0),
    )


ROUTED, NOT_ROUTED = "routed", "not-routed"
OUTCOMES = (ROUTED, NOT_ROUTED, message_outcomes.FILTERED, message_outcomes.REJECTED)
"""What became of an answered message: accepted and routed to at least one destination,
accepted and routed nowhere (receipts; events no route takes), filtered by a rule, rejected."""


@dataclass(frozen=True)
class MessageFilter:
    """A message search; fields left empty match everything."""

    reference: str | None = None  # bridge message id, facility|control id or control id
    event_code: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    patient: str | None = None  # a personnummer / samordningsnummer, any usual form
    status: str | None = None  # a delivery status: pending, delivered, dead, …
    outcome: str | None = None  # routed, not-routed, filtered, rejected (OUTCOMES)

    def describe(self) -> dict[str, str]:
        """The filter for the audit log: the patient masked."""
        described = {
            key: value.isoformat() if isinstance(value, datetime) else str(value)
            for key, value in self.__dict__.items()
            if value
        }
        if self.patient:
            described["patient"] = mask(self.patient)
        return described


@dataclass(frozen=True)
class MessageSummary:
    message_id: str
    dedupe_key: str
    event_code: str
    patient_masked: str
    protected: bool
    entrypoint: str
    source: str
    received_at: datetime
    deliveries: dict[str, str] = field(default_factory=dict)  # destination → status
    outcome: str = ROUTED
    reason: str | None = None  # why a message was rejected or filtered
    rule: str | None = None  # the rule that filtered it
    location: str | None = None  # where a rejected message is wrong (PID-3, …)
    # Restriction codes not recognised: the person was treated as protected (fails closed).
    unrecognised_restriction: str | None = None

    @property
    def control_id(self) -> str:
        return self.dedupe_key.rsplit("|", 1)[-1]


class PatientNotRecognised(ValueError):
    """The patient identifier searched for is not a valid personnummer/samordningsnummer."""


async def search_messages(
    db: Database, where: MessageFilter, patient_key_secret: str, *, limit: int = 100
) -> list[MessageSummary]:
    """Answered messages matching ``where``, newest first: the accepted ones with their
    deliveries' states, and the filtered and rejected ones (operations/message_outcomes.py)."""
    async with db.session() as session:
        found: list[MessageSummary] = []
        if where.outcome not in (message_outcomes.FILTERED, message_outcomes.REJECTED):
            found += await _accepted(session, where, patient_key_secret, limit)
        if _outcomes_match(where):
            found += [
                _outcome_summary(outcome)
                for outcome in await message_outcomes.search_outcomes(
                    session,
                    reference=where.reference,
                    outcome=where.outcome,
                    received_from=where.received_from,
                    received_to=where.received_to,
                    limit=limit,
                )
            ]
    found.sort(key=lambda summary: summary.received_at, reverse=True)
    return found[:limit]


def _outcomes_match(where: MessageFilter) -> bool:
    """Filtered and rejected messages name no patient, event or delivery to match on."""
    if where.patient or where.status or where.event_code:
        return False
    return where.outcome in (None, message_outcomes.FILTERED, message_outcomes.REJECTED)


async def _accepted(
    session: Any, where: MessageFilter, secret: str, limit: int
) -> list[MessageSummary]:
    query = _message_query(where, secret).order_by(MessageRow.received_at.desc(), MessageRow.id)
    rows = (await session.scalars(query.limit(limit))).all()
    ids = [row.id for row in rows]
    deliveries: dict[str, dict[str, str]] = {}
    if ids:
        for message_id, destination, status in (
            await session.execute(
                select(DeliveryRow.message_id, DeliveryRow.destination, DeliveryRow.status)
                .where(DeliveryRow.message_id.in_(ids))
                .order_by(DeliveryRow.destination)
            )
        ).all():
            deliveries.setdefault(message_id, {})[destination] = status
    found = [
        MessageSummary(
            message_id=row.id,
            dedupe_key=row.dedupe_key,
            event_code=row.event_code,
            patient_masked=row.patient_masked,
            protected=row.protected,
            entrypoint=row.entrypoint,
            source=row.source,
            received_at=row.received_at,
            deliveries=deliveries.get(row.id, {}),
            outcome=ROUTED if deliveries.get(row.id) else NOT_ROUTED,
            unrecognised_restriction=row.unrecognised_restriction,
        )
        for row in rows
    ]
    if where.outcome in (ROUTED, NOT_ROUTED):
        found = [summary for summary in found if summary.outcome == where.outcome]
    return found


def _outcome_summary(outcome: message_outcomes.OutcomeSummary) -> MessageSummary:
    return MessageSummary(
        message_id=outcome.outcome_id,
        dedupe_key=outcome.control_id,
        event_code=outcome.message_type or "-",
        patient_masked="-",
        protected=False,
        entrypoint=outcome.entrypoint,
        source=outcome.source,
        received_at=outcome.received_at,
        outcome=outcome.outcome,
        reason=outcome.reason,
        rule=outcome.rule,
        location=outcome.location,
    )


def _message_query(where: MessageFilter, secret: str) -> Select[Any]:
    query = select(MessageRow)
    if where.reference:
        ref = where.reference.strip()
        query = query.where(
            (MessageRow.id == ref)
            | (MessageRow.dedupe_key == ref)
            | MessageRow.dedupe_key.like(f"%|{_escape_like(ref)}", escape="\\")
        )
    if where.event_code:
        query = query.where(MessageRow.event_code == where.event_code)
    if where.received_from:
        query = query.where(MessageRow.received_at >= where.received_from)
    if where.received_to:
        query = query.where(MessageRow.received_at < where.received_to)
    if where.patient:
        query = query.where(MessageRow.patient_key.in_(patient_keys(where.patient, secret)))
    if where.status:
        query = query.where(
            MessageRow.id.in_(
                select(DeliveryRow.message_id).where(DeliveryRow.status == where.status)
            )
        )
    return query


def patient_keys(identifier: str, secret: str) -> list[str]:
    """The pseudonymous keys a typed-in identifier may be stored under."""
    try:
        kind, digits = normalise_person_number(identifier)
    except MessageRejected as error:
        raise PatientNotRecognised(error.reason) from None
    return [patient_key(PatientIdentifier(kind=kind, value=digits), secret)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def patient_of(canonical: str) -> dict[str, Any]:
    """Who a message is about, for a signed-in user who opened it: identifier, name, flags.

    The address is never shown (protected identities must not leak it; nobody needs it here).
    """
    patient = None
    if canonical and canonical != "{}":  # empty: pruned by the retention
        patient = CareTransitionEvent.model_validate_json(canonical).patient
    if patient is None:
        return {"identifier": None, "identifier_kind": None, "name": None, "protected": False}
    primary = patient.primary_identifier
    name = patient.name
    text = " ".join([*name.given, name.family or ""]) if name else ""
    return {
        "identifier": primary.value,
        "identifier_kind": primary.kind.value,
        "name": text.strip() or None,
        "protected": patient.is_protected,
        "unrecognised_restriction": "; ".join(patient.unrecognised_restrictions) or None,
    }
