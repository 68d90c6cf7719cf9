"""Golden tests for every event type, in both directions, against reviewed fixture files.

- HL7 v2 → canonical → FHIR: each message in ``tests/fixtures/hl7/events/`` becomes exactly the
  Bundle in ``tests/fixtures/fhir/events/from-hl7/``.
- FHIR → canonical → HL7 v2: each Bundle ``tests/fixtures/fhir/events/in-<event>.json`` becomes
  exactly ``tests/fixtures/hl7/events/from-fhir/<event>.hl7``; a SIP plan, which has no HL7 v2
  form, is refused permanently and goes FHIR → FHIR instead.

After a deliberate mapping change, ``BRIDGE_UPDATE_GOLDEN=1 pytest
tests/unit/test_events_golden.py`` rewrites the expected files; review the diff before committing.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import EventCode

FIXTURES = Path(__file__).parents[1] / "fixtures"
HL7_EVENTS = FIXTURES / "hl7" / "events"
FHIR_EVENTS = FIXTURES / "fhir" / "events"
UPDATE = os.environ.get("BRIDGE_UPDATE_GOLDEN") == "1"
NOW = datetime(2025, 3, 3, 9, 0, 5, tzinfo=UTC)
ROUTE = {
    "source_name": "bridge",
    "source_endpoint": "http://bridge.gotland.example/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.gotland.example/fhir",
}
HL7_INPUTS = sorted(path.name for path in HL7_EVENTS.glob("*.hl7"))
FHIR_INPUTS = sorted(path.name for path in FHIR_EVENTS.glob("in-*.json"))
SIP_PLANS = {"sip-plan-established", "sip-plan-updated", "sip-plan-closed"}


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def to_fhir(event: Any) -> dict[str, Any]:
    return encode_message_bundle(
        event,
        bundle_id="golden-1",
        idempotency_key="0b9f3a52-7c1e-4d8a-9f6b-2e4c1a7d5b30",
        now=NOW,
        **ROUTE,
    )


def check_json(expected_path: Path, actual: dict[str, Any]) -> None:
    if UPDATE:
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert json.loads(expected_path.read_text(encoding="utf-8")) == actual


def check_text(expected_path: Path, actual: str) -> None:
    if UPDATE:
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_bytes(actual.encode("utf-8"))
    assert read_text(expected_path) == actual


def test_there_is_a_golden_pair_for_every_event_type_in_each_direction() -> None:
    # Given the fixtures / Then every event type has an HL7 v2 input (but SIP plans, which have
    # no HL7 v2 form) and a FHIR input
    from_hl7 = {decode_hl7(read_text(HL7_EVENTS / name)).event.value for name in HL7_INPUTS}
    from_fhir = {name.removeprefix("in-").removesuffix(".json") for name in FHIR_INPUTS}
    every = {code.value for code in EventCode if code.value != "deviation"}
    assert from_hl7 == every - SIP_PLANS
    assert from_fhir == every


@pytest.mark.parametrize("name", HL7_INPUTS)
def test_hl7_message_becomes_the_golden_fhir_bundle(name: str) -> None:
    # Given a reviewed HL7 v2 message of one event type
    text = read_text(HL7_EVENTS / name)
    # When it is decoded and written as FHIR
    bundle = to_fhir(decode_hl7(text))
    # Then it is the reviewed Bundle, and valid
    check_json(FHIR_EVENTS / "from-hl7" / name.replace(".hl7", ".json"), bundle)
    assert validate_resource(bundle) == []


@pytest.mark.parametrize("name", FHIR_INPUTS)
def test_fhir_bundle_becomes_the_golden_hl7_message(name: str) -> None:
    # Given a reviewed FHIR message Bundle of one event type
    code = name.removeprefix("in-").removesuffix(".json")
    event = decode_message_bundle((FHIR_EVENTS / name).read_bytes())
    assert event.event.value == code
    if code in SIP_PLANS:
        # Then a SIP plan is refused for HL7 v2 for good, and goes on as FHIR
        with pytest.raises(MessageRejected) as refused:
            encode_hl7(event, control_id="GOLDEN-1", now=NOW)
        assert refused.value.code == "not-supported"
        check_json(FHIR_EVENTS / "from-fhir" / f"{code}.json", to_fhir(event))
        return
    # When it is decoded and written as HL7 v2.5 / Then it is the reviewed message
    text = encode_hl7(
        event,
        version="2.5",
        control_id="GOLDEN-1",
        now=NOW,
        receiving_application="TakeCare",
        receiving_facility="SE2120000803",
    )
    check_text(HL7_EVENTS / "from-fhir" / f"{code}.hl7", text)
    assert decode_hl7(text).model_copy(update={"origin": event.origin}) == _hl7_view(event)


def _hl7_view(event: Any) -> Any:
    """The event as HL7 v2 keeps it: SIU and ACK have no EVN (no occurred_at)."""
    if event.sip_meeting is not None or event.receipt is not None:
        return event.model_copy(update={"occurred_at": None})
    return event


def test_an_a08_without_pv2_9_is_a_demographic_update_about_the_patient_alone() -> None:
    # Given an ADT^A08 that only updates demographics (no estimated discharge date in PV2-9)
    text = read_text(HL7_EVENTS / "adt_a08_patient_demographics_changed_v25.hl7")
    # When it is decoded
    event = decode_hl7(text)
    # Then it is a demographic update carrying the patient, and no stay
    assert event.event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED
    assert event.patient is not None and event.patient.address is not None
    assert event.encounter is None and event.admission_info is None


def test_pid_13_and_14_are_the_patients_contacts() -> None:
    # Given the demographic update's PID-13 (a number and an e-mail address) and PID-14
    event = decode_hl7(read_text(HL7_EVENTS / "adt_a08_patient_demographics_changed_v25.hl7"))
    assert event.patient is not None
    # Then each is a contact point with its system and use
    contacts = [(c.system, c.value, c.use) for c in event.patient.telecom]
    assert contacts == [
        ("phone", "0498-123456", "home"),
        ("email", "tolvan@example.se", "home"),
        ("phone", "0498-200000", "work"),
    ]
