"""Deviations reported by staff: recorded, routed to the responsible unit's inbox, listed and
counted with the automatic ones.

:meth:`ReportedDeviations.report` writes, in one transaction, the deviation, an audit row
(``deviation_reported``, actor = the person) and — when the responsible unit has an ``inbox``
in the organisations file naming a FHIR destination of the routing file — a ``deviation``
message with its outbox row to that inbox, delivered like every notice (retries, dead letters,
idempotency key). :meth:`entries` is the combined list (automatic and reported) that the page,
the export and the per-category indicator read.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.content_checks import RULE_ID as CONTENT_RULE
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.model import CareTransitionEvent, EventCode, MessageOrigin
from bridge.domain.organisations import Organisations
from bridge.domain.reported_deviations import (
    DeviationEntry,
    category_of_rule,
    check_category,
    detected_issue,
)
from bridge.domain.routing import PayloadFormat, RoutingTable
from bridge.service.care.deviations import stay_event, store_own_message
from bridge.service.clock import Clock
from bridge.service.delivery.outbound import FHIR_JSON
from bridge.service.delivery.outbox import OutboxEntry, add_to_outbox
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import CareEpisodeRow, DeviationRow, ReportedDeviationRow

log = logging.getLogger(__name__)
BRIDGE = "bridge"


class ReportError(ValueError):
    """A report that cannot be recorded; the message says why."""


@dataclass(frozen=True)
class Report:
    category: str
    unit_hsa_id: str
    description: str
    reported_by: str
    episode_id: str


class ReportedDeviations:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        routing: RoutingTable,
        organisations: Organisations,
        *,
        source_endpoint: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._routing = routing
        self._organisations = organisations
        self._endpoint = source_endpoint

    async def report(self, report: Report) -> DeviationEntry:
        """Record a person's report and route it to the responsible unit's inbox."""
        check = _checked(report)
        unit = self._organisations.unit(check.unit_hsa_id)
        if unit is None:
            raise ReportError(f"unknown unit {check.unit_hsa_id} (BRIDGE_CARE_ORGANISATIONS_FILE)")
        async with self._db.session() as session, session.begin():
            episode = await session.get(CareEpisodeRow, check.episode_id)
            if episode is None:
                raise ReportError(f"no care episode {check.episode_id}")
            return await self._store(
                session,
                episode,
                deviation_id=str(uuid.uuid4()),
                category=check.category,
                unit=(unit.hsa_id, unit.name),
                description=check.description,
                reported_by=check.reported_by,
            )

    async def flag_incomplete(
        self,
        session: AsyncSession,
        episode: CareEpisodeRow,
        message_id: str,
        unit: tuple[str, str],
        missing: tuple[str, ...],
    ) -> DeviationEntry:
        """An admission notice without the routine's fields: an automatic deviation of
        category ``incomplete-information`` for the sending unit (once per notice: its id is
        derived from the message's)."""
        return await self._store(
            session,
            episode,
            deviation_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"incomplete-notice:{message_id}")),
            category="incomplete-information",
            unit=unit,
            description="Incomplete admission notice (inskrivningsmeddelande): missing "
            + ", ".join(missing),
            reported_by=BRIDGE,
        )

    async def _store(
        self,
        session: AsyncSession,
        episode: CareEpisodeRow,
        *,
        deviation_id: str,
        category: str,
        unit: tuple[str, str],
        description: str,
        reported_by: str,
    ) -> DeviationEntry:
        """Record, audit and route one deviation in the caller's transaction."""
        now = self._clock.now()
        hsa_id, name = unit
        known = self._organisations.unit(hsa_id)
        entry = DeviationEntry(
            id=deviation_id,
            origin="automatic" if reported_by == BRIDGE else "reported",
            category=category,
            unit_hsa_id=hsa_id,
            unit_name=name or (known.name if known else ""),
            detected_at=now,
            summary=description,
            status="open",
            patient=episode.patient_masked,
            episode_id=episode.id,
            reported_by=reported_by,
        )
        wanted = known.inbox if known is not None else None
        inbox = wanted if wanted and self._fhir_destination(wanted) else None
        if wanted and inbox is None:
            log.error("deviation inbox %s is not a FHIR destination of the routing file", wanted)
        message_id = None
        if inbox is not None:
            message_id = await self._route(session, entry, episode, inbox, now)
        session.add(
            ReportedDeviationRow(
                id=deviation_id,
                category=category,
                responsible_unit_hsa_id=hsa_id,
                responsible_unit_name=entry.unit_name,
                episode_id=episode.id,
                patient_key=episode.patient_key,
                patient_masked=episode.patient_masked,
                description=description,
                reported_by=reported_by,
                reported_at=now,
                status="open",
                inbox=inbox,
                alert_message_id=message_id,
            )
        )
        audit.record(
            session,
            at=now,
            action="deviation_reported",
            actor=reported_by,
            message_id=message_id,
            deviation_id=deviation_id,
            category=category,
            unit=hsa_id,
            inbox=inbox,
            patient=episode.patient_masked,
        )
        return entry

    def _fhir_destination(self, name: str) -> bool:
        try:
            return self._routing.destination(name).format is PayloadFormat.FHIR
        except KeyError:
            return False

    async def _route(
        self,
        session: AsyncSession,
        entry: DeviationEntry,
        episode: CareEpisodeRow,
        inbox: str,
        now: datetime,
    ) -> str | None:
        stay = await stay_event(session, episode)
        if stay is None:  # no notice, or its copy pruned by the retention
            return None
        event = CareTransitionEvent(
            event=EventCode.DEVIATION,
            origin=MessageOrigin(
                sending_application=BRIDGE,
                sending_facility=BRIDGE,
                message_id=f"reported-{entry.id}",
                sent_at=now,
            ),
            occurred_at=now,
            patient=stay.patient,
            encounter=stay.encounter,
        )
        issue = detected_issue(entry, entry.summary)
        message_id = await store_own_message(
            session,
            event,
            episode,
            source=BRIDGE,
            entrypoint="staff",
            payload=issue,
            correlation_id=entry.id,
            destinations=[inbox],
            now=now,
        )
        destination = self._routing.destination(inbox)
        delivery_id, key = str(uuid.uuid4()), str(uuid.uuid4())
        bundle = encode_message_bundle(
            event,
            bundle_id=delivery_id,
            idempotency_key=key,
            source_name=BRIDGE,
            source_endpoint=self._endpoint,
            destination_name=destination.name,
            destination_endpoint=destination.address,
            now=now,
        )
        _attach(bundle, issue)
        await add_to_outbox(
            session,
            OutboxEntry(
                delivery_id=delivery_id,
                idempotency_key=key,
                message_id=message_id,
                destination=inbox,
                patient_key=f"deviation:{episode.patient_key}"[:64],
                content_type=FHIR_JSON,
                body=dumps(bundle).decode(),
                header_id=str(bundle["entry"][0]["resource"]["id"]),
            ),
            now,
        )
        return message_id

    async def entries(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[DeviationEntry]:
        """Automatic and reported deviations in one list, newest first."""
        return await deviation_entries(self._db, since, until)


async def deviation_entries(
    db: Database, since: datetime | None = None, until: datetime | None = None
) -> list[DeviationEntry]:
    """Automatic and reported deviations detected in [since, until), newest first."""
    async with db.session() as session:
        automatic = select(DeviationRow)
        reported = select(ReportedDeviationRow)
        if since is not None:
            automatic = automatic.where(DeviationRow.detected_at >= since)
            reported = reported.where(ReportedDeviationRow.reported_at >= since)
        if until is not None:
            automatic = automatic.where(DeviationRow.detected_at < until)
            reported = reported.where(ReportedDeviationRow.reported_at < until)
        found = [_automatic(row) for row in await session.scalars(automatic)]
        found += [_reported(row) for row in await session.scalars(reported)]
    return sorted(found, key=lambda entry: (entry.detected_at, entry.id), reverse=True)


def _checked(report: Report) -> Report:
    try:
        check_category(report.category)
    except ValueError as error:
        raise ReportError(str(error)) from None
    description = report.description.strip()
    if not description:
        raise ReportError("describe what happened")
    if not report.reported_by.strip():
        raise ReportError("say who reports it")
    return Report(
        report.category,
        report.unit_hsa_id.strip(),
        description[:4000],
        report.reported_by,
        report.episode_id,
    )


def _attach(bundle: dict[str, Any], issue: dict[str, Any]) -> None:
    url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, issue['id'])}"
    refs = {e["resource"]["resourceType"]: e["fullUrl"] for e in bundle["entry"][1:]}
    if "Patient" in refs:
        issue["patient"] = {"reference": refs["Patient"]}
    bundle["entry"].append({"fullUrl": url, "resource": issue})
    bundle["entry"][0]["resource"]["focus"] = [{"reference": url}]


def _automatic(row: DeviationRow) -> DeviationEntry:
    if row.responsible == "receiver":
        unit, name = row.receivers, row.receivers
    else:
        unit, name = row.sending_unit_hsa_id or "", row.sending_unit_name or ""
    return DeviationEntry(
        id=row.id,
        origin="automatic",
        category=category_of_rule(row.rule_id, row.category),
        unit_hsa_id=unit,
        unit_name=name,
        detected_at=row.detected_at,
        summary=row.rule_title,
        status=row.status,
        patient=row.patient_masked,
        episode_id=row.episode_id,
        rule_id=row.rule_id,
    )


def _reported(row: ReportedDeviationRow) -> DeviationEntry:
    automatic = row.reported_by == BRIDGE
    return DeviationEntry(
        id=row.id,
        origin="automatic" if automatic else "reported",
        rule_id=CONTENT_RULE if automatic else "",
        category=row.category,
        unit_hsa_id=row.responsible_unit_hsa_id,
        unit_name=row.responsible_unit_name,
        detected_at=row.reported_at,
        summary=row.description,
        status=row.status,
        patient=row.patient_masked or "",
        episode_id=row.episode_id or "",
        reported_by=row.reported_by,
    )
