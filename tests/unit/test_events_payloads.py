"""What leaves the bridge, for every event type: valid FHIR R4 (R4B models + the project's
profiles) and never a protected person's address, in either format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_events_strategies import FHIR_EVENTS, HL7_EVENTS, events

from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.fhir.examples import example_event
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import (
    Address,
    CareTransitionEvent,
    ContactPoint,
    EventCode,
    SecurityLabel,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ROUTE = {
    "source_name": "bridge",
    "source_endpoint": "http://bridge.test/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.test/fhir",
}
NOTICES = [code for code in FHIR_EVENTS if code is not EventCode.RECEIPT]


def as_fhir(event: CareTransitionEvent) -> dict[str, Any]:
    return encode_message_bundle(
        event, bundle_id="d-1", idempotency_key="e2b7c7d4-1f0a-4f43-9a55-3c1d2b4a5e6f", now=NOW,
        **ROUTE,
    )  # fmt: skip


def resource_types(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["resourceType"] for entry in bundle["entry"]]


# --- valid FHIR ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", FHIR_EVENTS, ids=str)
def test_every_resource_of_every_event_type_is_valid(code: EventCode) -> None:
    # Given the example of one event type
    bundle = as_fhir(example_event(code))
    # When the Bundle and each resource in it are checked
    # Then the R4B models and the project's profile rules find nothing wrong
    assert validate_resource(bundle) == []
    for entry in bundle["entry"]:
        assert validate_resource(entry["resource"]) == [], entry["resource"]["resourceType"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (EventCode.ADMISSION, ["MessageHeader", "Patient", "Encounter"]),
        (EventCode.PATIENT_MERGE, ["MessageHeader", "Patient", "Patient"]),
        (EventCode.SIP_MEETING_BOOKED, ["MessageHeader", "Patient", "Encounter", "Appointment"]),
        (EventCode.SIP_PLAN_ESTABLISHED,
         ["MessageHeader", "Patient", "CarePlan", "CareTeam", "Consent"]),
        (EventCode.HOMECARE_ENROLMENT_STARTED, ["MessageHeader", "Patient", "EpisodeOfCare"]),
        (EventCode.RECEIPT, ["MessageHeader"]),
    ],
    ids=str,
)  # fmt: skip
def test_each_event_type_carries_the_resources_the_mapping_names(
    code: EventCode, expected: list[str]
) -> None:
    assert resource_types(as_fhir(example_event(code))) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events("fhir"))
def test_generated_events_of_every_type_give_valid_resources(event: CareTransitionEvent) -> None:
    bundle = as_fhir(event)
    assert validate_resource(bundle) == []
    for entry in bundle["entry"]:
        assert validate_resource(entry["resource"]) == []


# --- protected persons -----------------------------------------------------------------------


@st.composite
def protected(draw: st.DrawFn, fmt: str) -> tuple[CareTransitionEvent, list[str]]:
    codes = NOTICES if fmt == "fhir" else [c for c in HL7_EVENTS if c is not EventCode.RECEIPT]
    event = draw(events("fhir" if fmt == "fhir" else "hl7", codes))
    serial = draw(st.integers(10**6, 10**7 - 1))
    secrets = [f"Hemliggatan {serial}", f"S{serial}", f"Ortnamn{serial}", f"Land{serial}"]
    address = Address(
        lines=(secrets[0],), postal_code=secrets[1], city=secrets[2], country=secrets[3]
    )
    labels = draw(st.frozensets(st.sampled_from(list(SecurityLabel)), min_size=1))
    assert event.patient is not None
    patient = event.patient.model_copy(update={"address": address, "security_labels": labels})
    return event.model_copy(update={"patient": patient}), secrets


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=protected("fhir"))
def test_no_fhir_payload_of_any_event_type_has_a_protected_address(
    case: tuple[CareTransitionEvent, list[str]],
) -> None:
    # Given a protected person with a distinctive address, in an event of any type
    event, secrets = case
    # When the event is encoded as FHIR (nobody called for_destination() first)
    wire = dumps(as_fhir(event))
    # Then no part of the address, and no address element, is in the bytes
    assert not [secret for secret in secrets if secret.encode() in wire]
    assert b'"address"' not in wire


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=protected("hl7"), version=st.sampled_from(["2.3", "2.4", "2.5", "2.6", "2.8"]))
def test_no_hl7_payload_of_any_event_type_has_a_protected_address(
    case: tuple[CareTransitionEvent, list[str]], version: str
) -> None:
    # Given a protected person with a distinctive address, in an event of any HL7 v2 type
    event, secrets = case
    # When the event is encoded as HL7 v2 (nobody called for_destination() first)
    text = encode_hl7(event, version=version, control_id="P-1", now=NOW)
    # Then no part of the address is in it and PID-11 is empty
    assert not [secret for secret in secrets if secret in text]
    pid = next(line for line in text.split("\r") if line.startswith("PID|"))
    fields = pid.split("|")
    assert len(fields) <= 11 or fields[11] == ""


def test_a_merge_does_not_leak_the_address_through_the_prior_identity() -> None:
    # Given a protected person merged from a reservnummer
    event = example_event(EventCode.PATIENT_MERGE)
    assert event.patient is not None
    patient = event.patient.model_copy(
        update={"security_labels": frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING})}
    )
    bundle = as_fhir(event.model_copy(update={"patient": patient}))
    # Then neither Patient entry has an address, and both carry the label
    patients = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert len(patients) == 2
    for resource in patients:
        assert "address" not in resource
        assert resource["meta"]["security"][0]["code"] == "skyddadFolkbokforing"


@pytest.mark.parametrize("label", list(SecurityLabel))
def test_a_protected_persons_phone_and_e_mail_never_leave_the_bridge(label: SecurityLabel) -> None:
    # Given a protected person with a phone number and an e-mail address
    event = example_event(EventCode.ADMISSION)
    assert event.patient is not None
    contacts = (
        ContactPoint(system="phone", value="0498-777 66 55", use="home"),
        ContactPoint(system="email", value="hemlig@example.se", use="work"),
    )
    patient = event.patient.model_copy(
        update={"telecom": contacts, "security_labels": frozenset({label})}
    )
    protected = event.model_copy(update={"patient": patient})
    # When it is encoded both ways, with and without for_destination() first
    for candidate in (protected, protected.for_destination()):
        wire = dumps(as_fhir(candidate)).decode()
        text = encode_hl7(candidate, control_id="P-2", now=NOW)
        # Then neither the number nor the e-mail is anywhere in the payloads
        for secret in ("777 66 55", "hemlig@example.se"):
            assert secret not in wire
            assert secret not in text
    assert protected.for_destination().patient is not None
    assert protected.for_destination().patient.telecom == ()
