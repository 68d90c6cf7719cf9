"""Field lengths the bridge stores, checked when a message is decoded (issue 12).

The database columns have sizes (store/tables.py). A value longer than its column used to
reach the database, where PostgreSQL raised a DataError that looked like "database
unavailable": the sender was told to resend, for ever. Checked here instead, a too-long value
is a :class:`MessageRejected` naming the field where the sender put it (HL7 segment-field, or
the FHIR element), so the answer is AE/AR with ERR, or an OperationOutcome, at once.

Each limit names the column it protects; tests/unit/test_field_limits.py checks they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bridge.domain.errors import MessageRejected
from bridge.domain.model import CareTransitionEvent, CareUnit


@dataclass(frozen=True)
class FieldLimit:
    label: str
    max_length: int
    hl7: str
    fhir: str
    columns: tuple[str, ...]  # "table.column" of store/tables.py holding the value
    value: Callable[[CareTransitionEvent], Iterator[str | None]]


def _unit(
    get: Callable[[CareTransitionEvent], CareUnit | None], attribute: str
) -> Callable[[CareTransitionEvent], Iterator[str | None]]:
    def values(event: CareTransitionEvent) -> Iterator[str | None]:
        unit = get(event)
        yield None if unit is None else getattr(unit, attribute)

    return values


def _ward(event: CareTransitionEvent) -> CareUnit | None:
    return event.encounter.unit if event.encounter else None


def _primary_care(event: CareTransitionEvent) -> CareUnit | None:
    return event.patient.primary_care_unit if event.patient else None


def _managing(event: CareTransitionEvent) -> CareUnit | None:
    return event.home_care.managing_unit if event.home_care else None


def _visit_number(event: CareTransitionEvent) -> Iterator[str | None]:
    yield event.encounter.visit_number if event.encounter else None


def _participant_hsa_ids(event: CareTransitionEvent) -> Iterator[str | None]:
    if event.sip_meeting:
        for participant in event.sip_meeting.participants:
            yield participant.hsa_id
    if event.sip_plan:
        for participant in event.sip_plan.care_team:
            yield participant.hsa_id


LIMITS: tuple[FieldLimit, ...] = (
    FieldLimit(
        "visit number",
        64,
        "PV1-19",
        "Encounter.identifier",
        ("care_episodes.visit_number",),
        _visit_number,
    ),
    FieldLimit(
        "ward name",
        200,
        "PV1-3",
        "Encounter.serviceProvider",
        (
            "care_episodes.unit_name",
            "care_episode_notices.unit_name",
            "deviations.sending_unit_name",
        ),
        _unit(_ward, "name"),
    ),
    FieldLimit(
        "ward HSA-id",
        64,
        "PV1-3",
        "Encounter.serviceProvider",
        (
            "care_episodes.unit_hsa_id",
            "care_episode_notices.unit_hsa_id",
            "deviations.sending_unit_hsa_id",
        ),
        _unit(_ward, "hsa_id"),
    ),
    FieldLimit(
        "primary care unit name",
        200,
        "PD1-3",
        "Patient.generalPractitioner.display",
        ("care_episodes.primary_care_name",),
        _unit(_primary_care, "name"),
    ),
    FieldLimit(
        "primary care unit HSA-id",
        64,
        "PD1-3",
        "Patient.generalPractitioner.identifier",
        ("care_episodes.primary_care_hsa_id",),
        _unit(_primary_care, "hsa_id"),
    ),
    FieldLimit(
        "home care unit name",
        200,
        "PV1-3",
        "EpisodeOfCare.managingOrganization.display",
        ("homecare_enrolments.unit_name",),
        _unit(_managing, "name"),
    ),
    FieldLimit(
        "home care unit HSA-id",
        64,
        "PV1-3",
        "EpisodeOfCare.managingOrganization.identifier",
        ("homecare_enrolments.unit_hsa_id",),
        _unit(_managing, "hsa_id"),
    ),
    FieldLimit(
        "participant HSA-id",
        64,
        "AIP-3",
        "Appointment.participant.actor.identifier",
        (),
        _participant_hsa_ids,
    ),
)


def check_field_lengths(event: CareTransitionEvent, *, fhir: bool) -> None:
    """Raise :class:`MessageRejected` for the first value longer than its column allows."""
    for limit in LIMITS:
        for value in limit.value(event):
            if value is not None and len(value) > limit.max_length:
                raise MessageRejected(
                    f"{limit.label} is {len(value)} characters; at most {limit.max_length} "
                    "are accepted",
                    limit.fhir if fhir else limit.hl7,
                    code="value",
                )
