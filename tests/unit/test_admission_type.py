"""Issue 15: the admission type (PV1-4, table 0007 / Encounter.priority, v3 ActPriority) is read,
written and carried both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_events_roundtrip import KEY, NOW, ROUTE, as_hl7

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.model import CareTransitionEvent
from bridge.service.care.episodes import _notice_row, notice_of

FIXTURE = Path(__file__).parents[1] / "fixtures" / "hl7" / "adt_a01_v25.hl7"


def with_pv1_4(code: str) -> str:
    text = FIXTURE.read_bytes().decode("utf-8")
    segments = text.split("\r")
    for index, segment in enumerate(segments):
        if segment.startswith("PV1|"):
            fields = segment.split("|")
            fields[4] = code
            segments[index] = "|".join(fields)
    return "\r".join(segments)


def admitted(code: str) -> CareTransitionEvent:
    return decode_hl7(with_pv1_4(code))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("E", "emergency"),
        ("U", "urgent"),
        ("A", "accident"),
        ("R", "elective"),
        ("C", "elective"),
        ("N", "newborn"),
        ("L", "labor"),
        ("e", "emergency"),
        ("", None),
        ("X", None),
    ],
)
def test_pv1_4_is_read_as_the_admission_type(code: str, expected: str | None) -> None:
    event = admitted(code)
    assert event.encounter is not None
    assert event.encounter.admission_type == expected


@pytest.mark.parametrize("code", ["E", "U", "A", "C", "N", "L"])
def test_the_admission_type_is_written_back_to_pv1_4(code: str) -> None:
    event = admitted(code)
    written = as_hl7(event)
    pv1 = next(s for s in written.split("\r") if s.startswith("PV1|"))
    assert pv1.split("|")[4] == code
    assert decode_hl7(written).encounter == event.encounter


def test_no_admission_type_leaves_pv1_4_empty() -> None:
    pv1 = next(s for s in as_hl7(admitted("")).split("\r") if s.startswith("PV1|"))
    assert pv1.split("|")[4] == ""


def fhir_encounter(event: CareTransitionEvent) -> dict[str, object]:
    bundle = encode_message_bundle(event, bundle_id="b-1", idempotency_key=KEY, now=NOW, **ROUTE)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            resource: dict[str, object] = entry["resource"]
            return resource
    raise AssertionError("no Encounter in the bundle")


@pytest.mark.parametrize(
    ("hl7", "priority", "back"),
    [
        ("E", "EM", "emergency"),
        ("A", "EM", "emergency"),  # ActPriority has no accident: still unplanned
        ("U", "UR", "urgent"),
        ("C", "EL", "elective"),
        ("R", "EL", "elective"),
    ],
)
def test_the_admission_type_goes_to_treserva_as_encounter_priority(
    hl7: str, priority: str, back: str
) -> None:
    event = admitted(hl7)
    bundle = encode_message_bundle(event, bundle_id="b-1", idempotency_key=KEY, now=NOW, **ROUTE)
    encounter = fhir_encounter(event)
    assert encounter["priority"] == {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
                "code": priority,
                "display": back,
            }
        ]
    }
    assert validate_resource(bundle) == []
    decoded = decode_message_bundle(bundle)
    assert decoded.encounter is not None and decoded.encounter.admission_type == back


def test_without_an_admission_type_there_is_no_priority() -> None:
    assert "priority" not in fhir_encounter(admitted(""))
    assert "priority" not in fhir_encounter(admitted("N"))  # newborn: no ActPriority code


@pytest.mark.parametrize(
    ("code", "expected"), [("EM", "emergency"), ("S", "emergency"), ("R", "elective"), ("X", None)]
)
def test_encounter_priority_is_read_as_the_admission_type(code: str, expected: str | None) -> None:
    bundle = encode_message_bundle(
        admitted("E"), bundle_id="b-1", idempotency_key=KEY, now=NOW, **ROUTE
    )
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["priority"]["coding"][0]["code"] = code
    decoded = decode_message_bundle(bundle)
    assert decoded.encounter is not None and decoded.encounter.admission_type == expected


def test_the_episode_notice_keeps_the_admission_type_and_the_stated_care_needs() -> None:
    event = admitted("U")
    assert event.admission_info is not None and event.admission_info.care_needs_assessment

    notice = notice_of(_notice_row(event, "episode-1", "message-1", NOW))

    assert notice.admission_type == "urgent"
    assert notice.care_needs is True


def test_an_admission_notice_without_care_needs_is_not_a_municipal_need() -> None:
    event = admitted("")
    event = event.model_copy(update={"admission_info": None})

    notice = notice_of(_notice_row(event, "episode-1", "message-1", NOW))

    assert notice.admission_type is None
    assert notice.care_needs is False
