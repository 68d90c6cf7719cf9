"""Canonical event → FHIR R4 message Bundle: the golden admission, statuses, identifiers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.domain.fhir import codes
from bridge.domain.fhir.encode import ENCOUNTER_STATUS, dumps, encode_message_bundle
from bridge.domain.fhir.examples import (
    EXAMPLE_BUNDLE_ID,
    EXAMPLE_IDEMPOTENCY_KEY,
    EXAMPLE_NOW,
    EXAMPLE_ROUTE,
    admission_example,
    protected_person_example,
)
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    EVENT_CODE_SYSTEM,
    CareTransitionEvent,
    EventCode,
    PatientIdentifier,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"


def encode(event: CareTransitionEvent, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "bundle_id": EXAMPLE_BUNDLE_ID,
        "idempotency_key": EXAMPLE_IDEMPOTENCY_KEY,
        "now": EXAMPLE_NOW,
        **EXAMPLE_ROUTE,
    }
    return encode_message_bundle(event, **{**arguments, **overrides})


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == resource_type
    ]


def with_event(event: CareTransitionEvent, code: EventCode) -> CareTransitionEvent:
    return event.model_copy(update={"event": code})


def test_admission_matches_the_golden_bundle() -> None:
    # Given the example admission notice and the reviewed bundle it must become
    expected = json.loads((FIXTURES / "admission-bundle.json").read_text(encoding="utf-8"))
    # When it is encoded
    bundle = encode(admission_example())
    # Then the structure is exactly the golden one (entry order, references, extensions)
    assert bundle == expected


def test_message_header_comes_first_and_focuses_the_encounter() -> None:
    # Given an admission
    bundle = encode(admission_example())
    # When the entries are read
    header, patient, encounter = (entry["resource"] for entry in bundle["entry"])
    # Then the header is first, with our event code, and its focus is the Encounter entry
    assert header["resourceType"] == "MessageHeader"
    assert header["eventCoding"] == {
        "system": EVENT_CODE_SYSTEM,
        "code": "admission",
        "display": "Admission",
    }
    assert header["focus"] == [{"reference": bundle["entry"][2]["fullUrl"]}]
    assert encounter["subject"] == {"reference": bundle["entry"][1]["fullUrl"]}
    assert patient["resourceType"] == "Patient"
    assert all(
        entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}" for entry in bundle["entry"]
    )


def test_bundle_identifier_is_the_idempotency_key_as_urn_uuid() -> None:
    # Given an idempotency key that is a UUID
    # When the event is encoded
    bundle = encode(admission_example())
    # Then the Bundle carries it as an RFC 3986 URI, and the delivery id as Bundle.id
    assert bundle["identifier"] == {
        "system": "urn:ietf:rfc:3986",
        "value": f"urn:uuid:{EXAMPLE_IDEMPOTENCY_KEY}",
    }
    assert bundle["id"] == EXAMPLE_BUNDLE_ID
    assert bundle["type"] == "message"


def test_an_idempotency_key_that_is_not_a_uuid_keeps_its_value_under_our_system() -> None:
    # Given a key that is not a UUID
    # When the event is encoded
    bundle = encode(admission_example(), idempotency_key="delivery-42")
    # Then it is kept as is, under the bridge's own naming system
    assert bundle["identifier"] == {"system": codes.IDEMPOTENCY_KEY_SYSTEM, "value": "delivery-42"}


def test_the_same_delivery_encodes_to_the_same_bytes() -> None:
    # Given one event encoded twice for the same delivery (a retry)
    # When both are serialised
    # Then the bytes are identical, so a receiver sees the same message
    assert dumps(encode(admission_example())) == dumps(encode(admission_example()))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (EventCode.ADMISSION, "in-progress"),
        (EventCode.TRANSFER, "in-progress"),
        (EventCode.ESTIMATED_DISCHARGE_CHANGED, "in-progress"),
        (EventCode.DISCHARGE_READY, "in-progress"),
        (EventCode.DISCHARGE_READY_WITHDRAWN, "in-progress"),
        (EventCode.DISCHARGE_CANCELLED, "in-progress"),
        (EventCode.DISCHARGE, "finished"),
        (EventCode.ADMISSION_CANCELLED, "cancelled"),
        (EventCode.SIP_MEETING_BOOKED, "unknown"),
    ],
)
def test_encounter_status_follows_the_event(code: EventCode, status: str) -> None:
    # Given the example stay sent as one of the events
    # When it is encoded
    (encounter,) = resources(encode(with_event(admission_example(), code)), "Encounter")
    # Then the Encounter status says what the event means for the stay
    assert encounter["status"] == status
    assert ENCOUNTER_STATUS.get(code, "unknown") == status


def test_discharge_carries_the_discharge_time_as_period_end() -> None:
    # Given a discharge with a discharge time
    event = with_event(admission_example(), EventCode.DISCHARGE)
    assert event.encounter is not None
    left = datetime(2025, 3, 7, 11, 30, tzinfo=UTC)
    event = event.model_copy(
        update={"encounter": event.encounter.model_copy(update={"discharged_at": left})}
    )
    # When it is encoded
    (encounter,) = resources(encode(event), "Encounter")
    # Then the Encounter is finished with period.end
    assert encounter["status"] == "finished"
    assert encounter["period"] == {
        "start": "2025-03-03T08:15:00+01:00",
        "end": "2025-03-07T11:30:00+00:00",
    }


def test_gotland_routine_fields_are_extensions_and_reason_is_text() -> None:
    # Given an admission with the routine's extra information
    (encounter,) = resources(encode(admission_example()), "Encounter")
    # When its extensions are read
    extensions = {item["url"]: item for item in encounter["extension"]}
    # Then each has its own extension and the reason is reasonCode.text
    assert extensions[codes.ESTIMATED_DISCHARGE_URL]["valueDateTime"] == "2025-03-07T12:00:00+01:00"
    assert extensions[codes.HOUSING_SITUATION_URL]["valueString"].startswith("Bor ensam")
    assert codes.SOCIAL_SITUATION_URL in extensions
    assert codes.CARE_NEEDS_ASSESSMENT_URL in extensions
    assert encounter["reasonCode"] == [{"text": "Fall i hemmet, höftfraktur"}]


def test_event_without_a_stay_focuses_the_patient() -> None:
    # Given an event with neither encounter nor admission information
    event = admission_example().model_copy(
        update={"event": EventCode.PATIENT_MERGE, "encounter": None, "admission_info": None}
    )
    # When it is encoded
    bundle = encode(event)
    # Then there is no Encounter and the header's focus is the Patient
    assert resources(bundle, "Encounter") == []
    assert bundle["entry"][0]["resource"]["focus"] == [{"reference": bundle["entry"][1]["fullUrl"]}]


def test_protected_person_has_labels_and_no_address_even_if_the_caller_forgot() -> None:
    # Given a protected person's event that was NOT passed through for_destination()
    event = protected_person_example()
    assert event.patient.address is not None
    # When it is encoded
    bundle = encode(event)
    wire = dumps(bundle)
    # Then the security label is there and no part of the address is
    (patient,) = resources(bundle, "Patient")
    assert patient["meta"]["security"] == [
        {
            "system": "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel",
            "code": "skyddadFolkbokforing",
            "display": "Skyddad folkbokföring",
        }
    ]
    assert "address" not in patient
    for secret in ("Hemlig väg 7", "62141", 'Visby"'):
        assert secret.encode() not in wire


def test_identifiers_use_the_hl7_sweden_systems() -> None:
    # Given a patient with every kind of Swedish identifier
    identifiers = (
        PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212121212"),
        PatientIdentifier(kind=IdentifierKind.SAMORDNINGSNUMMER, value="195509742382"),
        PatientIdentifier(kind=IdentifierKind.NATIONELLT_RESERVNUMMER, value="RES123"),
        PatientIdentifier(
            kind=IdentifierKind.LOKALT_RESERVNUMMER, value="99-1", assigner="1.2.752.97.1"
        ),
        PatientIdentifier(
            kind=IdentifierKind.LOKALT_RESERVNUMMER, value="99-2", assigner="Visby lasarett"
        ),
    )
    event = admission_example()
    event = event.model_copy(
        update={"patient": event.patient.model_copy(update={"identifiers": identifiers})}
    )
    # When it is encoded
    (patient,) = resources(encode(event), "Patient")
    # Then each identifier has its system; local reservnummer are typed PI
    local_type = {
        "coding": [{"system": codes.IDENTIFIER_TYPE_SYSTEM, "code": "PI"}],
        "text": "lokalt reservnummer",
    }
    assert patient["identifier"] == [
        {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"},
        {
            "system": "http://electronichealth.se/identifier/samordningsnummer",
            "value": "195509742382",
        },
        {
            "system": "http://electronichealth.se/identifier/nationelltReservnummer",
            "value": "RES123",
        },
        {"type": local_type, "system": "urn:oid:1.2.752.97.1", "value": "99-1"},
        {
            "type": local_type,
            "system": codes.LOCAL_RESERVNUMMER_SYSTEM,
            "value": "99-2",
            "assigner": {"display": "Visby lasarett"},
        },
    ]


def test_times_with_offsets_fhir_cannot_write_are_sent_in_utc() -> None:
    # Given an occurrence time with an offset in seconds (not allowed in FHIR)
    from datetime import timedelta, timezone

    odd = datetime(2025, 3, 3, 10, 0, 30, tzinfo=timezone(timedelta(seconds=3630)))
    event = admission_example().model_copy(update={"occurred_at": odd})
    # When it is encoded
    header = encode(event)["entry"][0]["resource"]
    # Then the same instant is written in UTC
    assert header["extension"][0]["valueDateTime"] == "2025-03-03T09:00:00+00:00"


def test_a_bundle_id_that_is_not_a_fhir_id_is_a_programming_error() -> None:
    # Given a bundle id with characters FHIR ids do not allow
    # When the event is encoded / Then it fails loudly
    with pytest.raises(ValueError, match="FHIR id"):
        encode(admission_example(), bundle_id="not valid!")


def test_dumps_is_compact_utf8_json() -> None:
    # Given an encoded bundle
    bundle = encode(admission_example())
    # When it is serialised for the wire
    wire = dumps(bundle)
    # Then it is UTF-8 JSON that reads back to the same bundle
    assert isinstance(wire, bytes)
    assert "höftfraktur".encode() in wire
    assert orjson.loads(wire) == bundle


def test_unusual_whitespace_in_text_is_carried_unchanged() -> None:
    # Given a unit name with a no-break space (valid FHIR; fhir.resources' pattern refuses it)
    event = admission_example()
    assert event.patient.primary_care_unit is not None
    unit = event.patient.primary_care_unit.model_copy(update={"name": "Visby\u00a0vårdcentral"})
    event = event.model_copy(
        update={"patient": event.patient.model_copy(update={"primary_care_unit": unit})}
    )
    # When it is encoded
    (patient,) = resources(encode(event), "Patient")
    # Then the text is sent as it is: the bridge does not rewrite clinical text
    assert patient["generalPractitioner"][0]["display"] == "Visby\u00a0vårdcentral"
