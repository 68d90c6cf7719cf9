"""ADT^A01 from the TakeCare simulator: parseable, unique, and laid out as docs/mapping.md says."""

from __future__ import annotations

from datetime import datetime
from itertools import islice

import pytest
from hl7apy.parser import parse_message

from takecare_sim.er7 import STOCKHOLM, control_ids, escape, segment
from takecare_sim.messages import SUPPORTED_VERSIONS, Sender, build_admission
from takecare_sim.patients import Admission, generate_admissions

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=STOCKHOLM)
ADMISSIONS = generate_admissions(300, seed=11, now=NOW)
# hl7apy is slow: parse the first 40 and every protected or samordningsnummer patient.
PARSE_SAMPLE = ADMISSIONS[:40] + [
    a
    for a in ADMISSIONS[40:]
    if a.patient.protection or a.patient.identifier_kind == "samordningsnummer"
]


def field(message: str, name: str, position: int, occurrence: int = 0) -> str:
    """Field ``name-position`` counted as the standard does (MSH-1 is the separator)."""
    lines = [line for line in message.split("\r") if line.startswith(name + "|")]
    values = lines[occurrence].split("|")
    return values[position - 1] if name == "MSH" else values[position]


def protected(kind: str) -> Admission:
    return next(a for a in ADMISSIONS if a.patient.protection == kind)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_hl7apy_parses_every_generated_message(version: str) -> None:
    ids = control_ids()
    for admission in PARSE_SAMPLE:
        er7 = build_admission(admission, next(ids), NOW, Sender(version=version))
        message = parse_message(er7, find_groups=False)
        assert message.msh.msh_10.value.startswith("TC")
        assert message.pid.pid_3.value.startswith(admission.patient.identifier)


def test_control_ids_never_repeat_within_a_run_or_across_runs() -> None:
    first, second = list(islice(control_ids(), 5000)), list(islice(control_ids(), 5000))
    assert len(set(first + second)) == 10000
    assert max(len(value) for value in first) <= 20


def test_msh_names_sender_event_control_id_and_version() -> None:
    er7 = build_admission(ADMISSIONS[0], "TCABC000001", NOW)
    assert field(er7, "MSH", 3) == "TAKECARE"
    assert field(er7, "MSH", 4) == "VISBY_LAS"
    assert field(er7, "MSH", 7) == "20300301120000+0100"
    assert field(er7, "MSH", 9) == "ADT^A01^ADT_A01"
    assert field(er7, "MSH", 10) == "TCABC000001"
    assert field(er7, "MSH", 12) == "2.5"
    assert field(er7, "MSH", 18) == "UNICODE UTF-8"
    assert er7.endswith("\r")


def test_pid_carries_the_identifier_with_both_swedish_markers() -> None:
    coordination = next(a for a in ADMISSIONS if a.patient.identifier_kind == "samordningsnummer")
    for admission, oid in (
        (ADMISSIONS[0], "1.2.752.129.2.1.3.1"),
        (coordination, "1.2.752.129.2.1.3.3"),
    ):
        er7 = build_admission(admission, "X1", NOW)
        assert field(er7, "PID", 3) == f"{admission.patient.identifier}^^^&{oid}&ISO^NNSWE"


def test_pid_name_birth_gender_and_address() -> None:
    admission = ADMISSIONS[0]
    patient = admission.patient
    er7 = build_admission(admission, "X1", NOW)
    assert field(er7, "PID", 5).split("^")[:2] == [patient.family_name, patient.given_names[0]]
    assert field(er7, "PID", 7) == patient.birth_date.strftime("%Y%m%d")
    assert field(er7, "PID", 8) == patient.gender
    street, _, city, _, postal_code, country = field(er7, "PID", 11).split("^")
    assert (street, city, postal_code, country) == (
        patient.address.street, patient.address.city, patient.address.postal_code, "SWE"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("version", "component"), [("2.3", 3), ("2.4", 3), ("2.5", 10), ("2.8", 10)]
)
def test_pd1_names_the_primary_care_unit_by_hsa_id(version: str, component: int) -> None:
    admission = ADMISSIONS[0]
    er7 = build_admission(admission, "X1", NOW, Sender(version=version))
    components = field(er7, "PD1", 3).split("^")
    assert components[0] == admission.patient.primary_care.name
    assert components[component - 1] == admission.patient.primary_care.hsa_id


@pytest.mark.parametrize("kind", ["sekretessmarkering", "skyddadFolkbokforing"])
def test_protected_identity_sets_pd1_12_and_arv_from_v2_6(kind: str) -> None:
    admission = protected(kind)
    old = build_admission(admission, "X1", NOW, Sender(version="2.5"))
    new = build_admission(admission, "X1", NOW, Sender(version="2.6"))
    assert field(old, "PD1", 12) == "Y"
    assert "\rARV|" not in old
    assert field(new, "ARV", 3).split("^")[0] == kind


def test_unprotected_patient_has_no_arv_and_pd1_12_n() -> None:
    admission = next(a for a in ADMISSIONS if a.patient.protection is None)
    er7 = build_admission(admission, "X1", NOW, Sender(version="2.8"))
    assert field(er7, "PD1", 12) == "N"
    assert "\rARV|" not in er7


def test_pv1_and_pv2_carry_ward_visit_times_and_reason() -> None:
    admission = ADMISSIONS[0]
    ward = admission.ward
    er7 = build_admission(admission, "X1", NOW)
    assert field(er7, "PV1", 2) == "I"
    assert field(er7, "PV1", 3) == f"{ward.code}^^^{ward.name}&{ward.hsa_id}&HSA"
    assert field(er7, "PV1", 19) == admission.visit_number
    assert field(er7, "PV1", 44) == admission.admitted_at.strftime("%Y%m%d%H%M%S%z")
    assert field(er7, "PV2", 3).split("^")[1] == admission.reason_text
    assert field(er7, "PV2", 9) == admission.estimated_discharge.strftime("%Y%m%d")
    assert field(er7, "EVN", 6) == field(er7, "PV1", 44)


def test_obx_segments_carry_gotland_routine_fields() -> None:
    admission = ADMISSIONS[0]
    er7 = build_admission(admission, "X1", NOW)
    expected = {
        "housing-situation": admission.housing_situation,
        "social-situation": admission.social_situation,
        "care-needs-assessment": admission.care_needs_assessment,
    }
    observations = {
        field(er7, "OBX", 3, n).split("^")[0]: field(er7, "OBX", 5, n) for n in range(3)
    }
    assert observations == expected
    assert {field(er7, "OBX", 2, n) for n in range(3)} == {"TX"}
    assert field(er7, "OBX", 3, 0).split("^")[2] == "BRIDGE-AI"


def test_free_text_delimiters_are_escaped() -> None:
    assert escape(r"a|b^c&d~e\f") == r"a\F\b\S\c\T\d\R\e\E\f"


def test_segment_places_fields_by_standard_position() -> None:
    assert segment("PV1", {2: "I", 4: "x"}) == "PV1||I||x"
    assert segment("MSH", {2: "^~\\&", 4: "FAC"}) == "MSH|^~\\&||FAC"
