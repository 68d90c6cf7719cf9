"""Care episodes in the store: the accept hook that follows them, and loading them as facts.

:func:`track` runs inside the accept transaction (``service/delivery/accept.py``), so a notice
and its place in its hospital stay are committed together. It files the notice under its episode
(found by patient and visit number, else the patient's latest stay), refreshes the episode's
summary with the pure :func:`~bridge.domain.episodes.fold`, and records home-care enrolments
per reporting system. :func:`load_facts` turns stored episodes, their notices and their
deliveries' delivery and receipt times back into plain
:class:`~bridge.domain.episodes.EpisodeFacts` for the deadline rules and the indicators.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.episodes import (
    EPISODE_EVENTS,
    SIP_EVENTS,
    EpisodeFacts,
    EpisodeStatus,
    Notice,
    NoticeDelivery,
    Period,
    Unit,
    fold,
)
from bridge.domain.identifiers import IdentifierKind, birth_date_of
from bridge.domain.model import CareTransitionEvent, CareUnit, EventCode, Patient
from bridge.service.delivery.receipts import RECEIPT_OK
from bridge.store.tables import (
    CareEpisodeRow,
    DeliveryRow,
    EpisodeNoticeRow,
    HomeCareEnrolmentRow,
)

ATTACH_WITHIN = timedelta(days=30)
"""A notice without a visit number joins the patient's latest stay if it was active this
recently (a discharge-cancelled after the discharge, a late SIP)."""
SIP_KINDS = SIP_EVENTS | {EventCode.SIP_MEETING_CANCELLED, EventCode.SIP_PLAN_CLOSED}
ENROLMENT_EVENTS = frozenset(
    {EventCode.HOMECARE_ENROLMENT_STARTED, EventCode.HOMECARE_ENROLMENT_ENDED}
)


@dataclass(frozen=True)
class Tracked:
    """An accepted message to file under its episode."""

    event: CareTransitionEvent
    message_id: str
    patient_key: str
    source: str


async def track(
    session: AsyncSession,
    event: CareTransitionEvent,
    message_id: str,
    patient_key: str,
    source: str,
    at: datetime,
) -> None:
    """File one accepted message under its care episode (or its home-care enrolment)."""
    await track_many(session, [Tracked(event, message_id, patient_key, source)], at)


async def track_many(session: AsyncSession, accepted: Sequence[Tracked], at: datetime) -> None:
    """File accepted messages, in order, under their episodes and home-care enrolments.

    The episodes these patients may join are read in two queries for the whole batch
    (:class:`_Stays`); each message then finds or opens its episode in memory, seeing the
    episodes the messages before it in the batch opened or changed, exactly as if they had
    been committed one by one.
    """
    episodic: list[Tracked] = []
    for item in accepted:
        if item.event.patient is None:
            continue
        if item.event.event in ENROLMENT_EVENTS:
            await _track_enrolment(
                session, item.event, item.message_id, item.patient_key, item.source, at
            )
        elif item.event.event in EPISODE_EVENTS:
            episodic.append(item)
    if not episodic:
        return
    stays = await _Stays.load(session, episodic, at)
    for item in episodic:
        event = item.event
        assert event.patient is not None
        episode = stays.episode_for(session, event, item.patient_key, at)
        if episode is None:
            continue
        row = _notice_row(event, episode.id, item.message_id, at)
        session.add(row)
        stays.notices[episode.id].append(row)
        _refresh(episode, event.patient, stays.notices[episode.id], item.message_id, at)


class _Stays:
    """The episodes a batch's patients may join, and their notices, held in memory."""

    def __init__(
        self, episodes: list[CareEpisodeRow], notices: dict[str, list[EpisodeNoticeRow]]
    ) -> None:
        self.by_patient: dict[str, list[CareEpisodeRow]] = defaultdict(list)
        for episode in episodes:
            self.by_patient[episode.patient_key].append(episode)
        self.notices = notices

    @classmethod
    async def load(cls, session: AsyncSession, batch: Sequence[Tracked], at: datetime) -> _Stays:
        keys = {item.patient_key for item in batch}
        visits = {
            item.event.encounter.visit_number
            for item in batch
            if item.event.encounter is not None and item.event.encounter.visit_number
        }
        conditions = [
            CareEpisodeRow.status == EpisodeStatus.OPEN.value,
            CareEpisodeRow.last_notice_at >= at - ATTACH_WITHIN,
        ]
        if visits:
            conditions.append(CareEpisodeRow.visit_number.in_(visits))
        episodes = list(
            (
                await session.scalars(
                    select(CareEpisodeRow).where(
                        CareEpisodeRow.patient_key.in_(keys), or_(*conditions)
                    )
                )
            ).all()
        )
        notices: dict[str, list[EpisodeNoticeRow]] = defaultdict(list)
        if episodes:
            rows = await session.scalars(
                select(EpisodeNoticeRow).where(
                    EpisodeNoticeRow.episode_id.in_([e.id for e in episodes])
                )
            )
            for row in rows:
                notices[row.episode_id].append(row)
        return cls(episodes, notices)

    def episode_for(
        self, session: AsyncSession, event: CareTransitionEvent, key: str, at: datetime
    ) -> CareEpisodeRow | None:
        visit = event.encounter.visit_number if event.encounter is not None else None
        if visit:
            for episode in self.by_patient[key]:
                if episode.visit_number == visit:
                    return episode
        else:
            latest = self._latest(key, at)
            if latest is not None and (
                event.event is not EventCode.ADMISSION
                or (latest.status == EpisodeStatus.OPEN and latest.admitted_at is None)
            ):
                return latest
        if event.event in SIP_KINDS:
            return None
        episode = _open_episode(session, event, key, visit, at)
        self.by_patient[key].append(episode)
        return episode

    def _latest(self, key: str, at: datetime) -> CareEpisodeRow | None:
        """The patient's open stay, else the one most recently active within ATTACH_WITHIN."""
        candidates = [
            e
            for e in self.by_patient[key]
            if e.status == EpisodeStatus.OPEN.value or e.last_notice_at >= at - ATTACH_WITHIN
        ]
        if not candidates:
            return None
        return max(
            candidates, key=lambda e: (e.status == EpisodeStatus.OPEN.value, e.last_notice_at)
        )


def _open_episode(
    session: AsyncSession,
    event: CareTransitionEvent,
    key: str,
    visit: str | None,
    at: datetime,
) -> CareEpisodeRow:
    patient = event.patient
    assert patient is not None
    primary = patient.primary_care_unit
    episode = CareEpisodeRow(
        id=str(uuid.uuid4()),
        patient_key=key,
        patient_masked=patient.primary_identifier.masked,
        visit_number=visit,
        birth_date=birth_date(patient),
        primary_care_hsa_id=primary.hsa_id if primary else None,
        primary_care_name=primary.name if primary else None,
        status=EpisodeStatus.OPEN.value,
        first_seen_at=at,
        last_notice_at=at,
        last_message_id="",
        settled=False,
    )
    session.add(episode)
    return episode


def birth_date(patient: Patient) -> date | None:
    """The recorded birth date, else the one a personnummer or samordningsnummer encodes."""
    if patient.birth_date is not None:
        return patient.birth_date
    identifier = patient.primary_identifier
    if identifier.kind in (IdentifierKind.PERSONNUMMER, IdentifierKind.SAMORDNINGSNUMMER):
        try:
            return birth_date_of(identifier.kind, identifier.value)
        except ValueError:
            return None
    return None


def _notice_row(
    event: CareTransitionEvent, episode_id: str, message_id: str, at: datetime
) -> EpisodeNoticeRow:
    encounter = event.encounter
    info = event.admission_info
    unit = encounter.unit if encounter is not None else None
    return EpisodeNoticeRow(
        episode_id=episode_id,
        message_id=message_id,
        event_code=event.event.value,
        sent_at=at,
        occurred_at=event.occurred_at,
        admitted_at=encounter.admitted_at if encounter else None,
        discharged_at=encounter.discharged_at if encounter else None,
        unit_hsa_id=unit.hsa_id if unit else None,
        unit_name=unit.name if unit else None,
        class_code=encounter.class_code if encounter else None,
        admission_type=encounter.admission_type if encounter else None,
        care_needs=bool(info and (info.care_needs_assessment or "").strip()),
        parties=",".join(sorted(parties(event))),
    )


def parties(event: CareTransitionEvent) -> set[str]:
    """The huvudmän a SIP meeting or plan names (region, municipality, other)."""
    found: set[str] = set()
    if event.sip_meeting is not None:
        found |= {p.party.value for p in event.sip_meeting.participants if p.party}
    if event.sip_plan is not None:
        found |= {i.responsible.value for i in event.sip_plan.interventions}
        found |= {p.party.value for p in event.sip_plan.care_team if p.party}
    return found


def _refresh(
    episode: CareEpisodeRow,
    patient: Patient,
    rows: list[EpisodeNoticeRow],
    message_id: str,
    at: datetime,
) -> None:
    state = fold(notice_of(row) for row in rows)
    episode.status = state.status.value
    episode.admitted_at = state.admitted_at
    episode.discharged_at = state.discharged_at
    unit = state.unit
    episode.unit_hsa_id = unit.hsa_id if unit else None
    episode.unit_name = unit.name if unit else None
    episode.last_notice_at = max(episode.last_notice_at or at, at)
    episode.last_message_id = message_id
    episode.settled = False
    if patient.primary_care_unit is not None:
        episode.primary_care_hsa_id = patient.primary_care_unit.hsa_id
        episode.primary_care_name = patient.primary_care_unit.name
    episode.birth_date = episode.birth_date or birth_date(patient)


async def _track_enrolment(
    session: AsyncSession,
    event: CareTransitionEvent,
    message_id: str,
    key: str,
    system: str,
    at: datetime,
) -> None:
    enrolment = event.home_care
    if enrolment is None:
        return
    row = await session.scalar(
        select(HomeCareEnrolmentRow).where(
            HomeCareEnrolmentRow.system == system,
            HomeCareEnrolmentRow.patient_key == key,
            HomeCareEnrolmentRow.enrolment_id == enrolment.episode_id,
        )
    )
    if row is None:
        row = HomeCareEnrolmentRow(
            system=system,
            patient_key=key,
            enrolment_id=enrolment.episode_id,
            started_at=enrolment.start or event.occurred_at or at,
        )
        session.add(row)
    elif enrolment.start is not None:
        row.started_at = enrolment.start
    _set_unit(row, enrolment.managing_unit)
    if event.event is EventCode.HOMECARE_ENROLMENT_ENDED:
        row.ended_at = enrolment.end or event.occurred_at or at
    row.last_message_id = message_id
    row.updated_at = at


def _set_unit(row: HomeCareEnrolmentRow, unit: CareUnit | None) -> None:
    if unit is not None:
        row.unit_hsa_id = unit.hsa_id
        row.unit_name = unit.name


def notice_of(row: EpisodeNoticeRow, deliveries: Iterable[NoticeDelivery] = ()) -> Notice:
    unit = Unit(row.unit_hsa_id, row.unit_name) if row.unit_hsa_id or row.unit_name else None
    return Notice(
        message_id=row.message_id,
        event=EventCode(row.event_code),
        sent_at=row.sent_at,
        occurred_at=row.occurred_at,
        admitted_at=row.admitted_at,
        discharged_at=row.discharged_at,
        unit=unit,
        class_code=row.class_code,
        admission_type=row.admission_type,
        care_needs=bool(row.care_needs),
        parties=frozenset(filter(None, (row.parties or "").split(","))),
        deliveries=tuple(deliveries),
    )


async def load_facts(session: AsyncSession, episode_ids: list[str]) -> list[EpisodeFacts]:
    """The episodes as plain facts: their notices, each delivery's times, home-care periods."""
    if not episode_ids:
        return []
    episodes = (
        await session.scalars(select(CareEpisodeRow).where(CareEpisodeRow.id.in_(episode_ids)))
    ).all()
    notices = (
        await session.scalars(
            select(EpisodeNoticeRow).where(EpisodeNoticeRow.episode_id.in_(episode_ids))
        )
    ).all()
    deliveries = await _deliveries(session, [row.message_id for row in notices])
    periods = await enrolment_periods(session, {episode.patient_key for episode in episodes})
    by_episode: dict[str, list[Notice]] = defaultdict(list)
    for row in notices:
        by_episode[row.episode_id].append(notice_of(row, deliveries.get(row.message_id, ())))
    by_patient: dict[str, list[Period]] = defaultdict(list)
    for period in periods:
        by_patient[period.patient_key].append(period)
    return [
        EpisodeFacts(
            episode_id=episode.id,
            notices=tuple(by_episode[episode.id]),
            patient_key=episode.patient_key,
            birth_date=episode.birth_date,
            primary_care_unit=_unit(episode.primary_care_hsa_id, episode.primary_care_name),
            home_care=tuple(by_patient[episode.patient_key]),
        )
        for episode in episodes
    ]


def _unit(hsa_id: str | None, name: str | None) -> Unit | None:
    return Unit(hsa_id, name) if hsa_id or name else None


_CHUNK = 500


async def _deliveries(
    session: AsyncSession, message_ids: list[str]
) -> dict[str, list[NoticeDelivery]]:
    found: dict[str, list[NoticeDelivery]] = defaultdict(list)
    for start in range(0, len(message_ids), _CHUNK):
        chunk = message_ids[start : start + _CHUNK]
        rows = await session.execute(
            select(
                DeliveryRow.message_id,
                DeliveryRow.destination,
                DeliveryRow.delivered_at,
                DeliveryRow.receipted_at,
                DeliveryRow.receipt_code,
                DeliveryRow.receipt_state,
            )
            .where(DeliveryRow.message_id.in_(chunk))
            .order_by(DeliveryRow.created_at, DeliveryRow.destination)
        )
        for message_id, destination, delivered, receipted, code, state in rows:
            positive = receipted if code == RECEIPT_OK else None
            expected = state is not None or delivered is None
            found[message_id].append(NoticeDelivery(destination, delivered, positive, expected))
    return found


async def enrolment_periods(
    session: AsyncSession, patient_keys: Iterable[str] | None = None
) -> list[Period]:
    """Home-care enrolments as periods (of these patients, or of everyone)."""
    query = select(HomeCareEnrolmentRow)
    if patient_keys is not None:
        keys = list(patient_keys)
        if not keys:
            return []
        query = query.where(HomeCareEnrolmentRow.patient_key.in_(keys))
    rows = (await session.scalars(query)).all()
    return [
        Period(
            system=row.system,
            start=row.started_at,
            end=row.ended_at,
            unit=_unit(row.unit_hsa_id, row.unit_name),
            patient_key=row.patient_key,
        )
        for row in rows
    ]


async def episode_ids_between(session: AsyncSession, start: datetime, end: datetime) -> list[str]:
    """Episodes with a notice on or after ``start`` that began before ``end``."""
    rows = await session.scalars(
        select(CareEpisodeRow.id).where(
            CareEpisodeRow.last_notice_at >= start, CareEpisodeRow.first_seen_at < end
        )
    )
    return list(rows)
