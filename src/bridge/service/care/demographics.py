"""What the store knows about a patient that a demographic update's routing rule needs.

Read in its own short session before the update joins the accept's group commit
(``service/delivery/accept.py``): demographic updates are rare beside the notices, so one read
each costs little and keeps the batched accept transaction free of per-message queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.demographics import DemographicsFacts, changed_fields
from bridge.domain.episodes import EpisodeStatus
from bridge.domain.model import CareTransitionEvent, EventCode, Patient
from bridge.store.db import core
from bridge.store.tables import CareEpisodeRow, HomeCareEnrolmentRow, MessageRow


@dataclass(frozen=True)
class StoredDemographics:
    """The facts for the rule, and whether the update itself is already stored (a resend)."""

    facts: DemographicsFacts
    already_stored: bool


async def read_demographics(
    session: AsyncSession, event: CareTransitionEvent, patient_key: str
) -> StoredDemographics:
    """Compare the update with the patient's latest stored message; look for an open stay or an
    ongoing home-care enrolment."""
    assert event.patient is not None  # a demographic update always carries its patient
    stored = await core(
        session, select(MessageRow.id).where(MessageRow.dedupe_key == event.dedupe_key).limit(1)
    )
    already = stored.first() is not None
    previous = await _previous_patient(session, patient_key)
    return StoredDemographics(
        DemographicsFacts(
            changed=changed_fields(previous, event.patient),
            active=await _active(session, patient_key),
        ),
        already,
    )


async def _previous_patient(session: AsyncSession, patient_key: str) -> Patient | None:
    """The patient as the latest message the bridge stored for them carried it."""
    rows = await core(
        session,
        select(MessageRow.canonical)
        .where(
            MessageRow.patient_key == patient_key,
            MessageRow.event_code != EventCode.RECEIPT.value,
            MessageRow.canonical != "",  # pruned by the retention: nothing to compare with
        )
        .order_by(MessageRow.received_at.desc(), MessageRow.id.desc())
        .limit(1),
    )
    row = rows.first()
    if row is None:
        return None
    return CareTransitionEvent.model_validate_json(row[0]).patient


async def _active(session: AsyncSession, patient_key: str) -> bool:
    episode = await core(
        session,
        select(CareEpisodeRow.id)
        .where(
            CareEpisodeRow.patient_key == patient_key,
            CareEpisodeRow.status == EpisodeStatus.OPEN.value,
        )
        .limit(1),
    )
    if episode.first() is not None:
        return True
    enrolment = await core(
        session,
        select(HomeCareEnrolmentRow.id)
        .where(
            HomeCareEnrolmentRow.patient_key == patient_key,
            HomeCareEnrolmentRow.ended_at.is_(None),
        )
        .limit(1),
    )
    return enrolment.first() is not None
