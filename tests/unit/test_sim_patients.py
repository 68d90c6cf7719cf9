"""The synthetic patient generator: valid, reproducible, varied, and never a real person."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import pytest

from bridge.domain.identifiers import IdentifierKind, luhn_ok, normalise_person_number
from takecare_sim.er7 import STOCKHOLM
from takecare_sim.identity import person_number
from takecare_sim.patients import Admission, AdmissionGenerator, generate_admissions

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=STOCKHOLM)


@pytest.fixture(scope="module")
def many() -> list[Admission]:
    return generate_admissions(4000, seed=7, now=NOW)


def test_every_identifier_passes_luhn_and_the_bridge_validation(many: list[Admission]) -> None:
    for admission in many:
        patient = admission.patient
        assert luhn_ok(patient.identifier[2:])
        kind, digits = normalise_person_number(patient.identifier)
        assert digits == patient.identifier
        assert kind.value == patient.identifier_kind


def test_identifiers_stay_in_the_test_range(many: list[Admission]) -> None:
    for admission in many:
        patient = admission.patient
        assert 1920 <= patient.birth_date.year <= 1950
        assert 980 <= int(patient.identifier[8:11]) <= 999
        gender_digit = int(patient.identifier[10])
        assert (gender_digit % 2 == 1) == (patient.gender == "M")


def test_samordningsnummer_encode_the_birth_day_plus_sixty(many: list[Admission]) -> None:
    coordination = [a.patient for a in many if a.patient.identifier_kind == "samordningsnummer"]
    assert 0.05 < len(coordination) / len(many) < 0.11
    for patient in coordination:
        assert int(patient.identifier[6:8]) == patient.birth_date.day + 60


def test_about_five_percent_have_a_protected_identity_of_both_kinds(many: list[Admission]) -> None:
    labels = [a.patient.protection for a in many if a.patient.protection]
    assert 0.035 < len(labels) / len(many) < 0.065
    assert {"sekretessmarkering", "skyddadFolkbokforing"} == set(labels)


def test_no_patient_appears_twice_in_one_stream(many: list[Admission]) -> None:
    identifiers = [a.patient.identifier for a in many]
    assert len(set(identifiers)) == len(identifiers)


def test_the_same_seed_and_clock_give_the_same_admissions() -> None:
    assert generate_admissions(50, seed=3, now=NOW) == generate_admissions(50, seed=3, now=NOW)
    assert generate_admissions(50, seed=3, now=NOW) != generate_admissions(50, seed=4, now=NOW)


def test_admissions_are_recent_and_discharge_is_estimated_after_admission(
    many: list[Admission],
) -> None:
    for admission in many:
        assert admission.admitted_at < NOW
        assert (NOW - admission.admitted_at).total_seconds() <= 20 * 3600
        assert admission.estimated_discharge > admission.admitted_at.date()


def test_places_and_units_are_on_gotland_with_made_up_hsa_ids(many: list[Admission]) -> None:
    for admission in many[:200]:
        patient = admission.patient
        assert patient.address.postal_code.startswith("62")
        assert patient.primary_care.hsa_id.startswith("SE2321000040-P")
        assert admission.ward.hsa_id.startswith("SE2321000040-W")
        assert admission.reason_text
        assert admission.care_needs_assessment


def test_a_stream_never_ends() -> None:
    generator = AdmissionGenerator(seed=1, now=NOW)
    assert len([next(generator) for _ in range(10)]) == 10


@pytest.mark.parametrize(
    ("birth", "number", "kind", "expected"),
    [
        (date(1942, 9, 17), 993, "personnummer", "194209179938"),
        (date(1942, 9, 17), 993, "samordningsnummer", "194209779935"),
    ],
)
def test_person_number_appends_the_luhn_digit(
    birth: date, number: int, kind: Literal["personnummer", "samordningsnummer"], expected: str
) -> None:
    value = person_number(birth, number, kind)
    assert value == expected
    assert normalise_person_number(value)[0] is IdentifierKind(kind)
