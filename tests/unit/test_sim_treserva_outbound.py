"""What the Treserva simulator sends the bridge reads as the events docs/mapping.md describes."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.identifiers import luhn_ok
from bridge.domain.model import CareTransitionEvent, EventCode
from treserva_sim.enrolments import synthetic_personnummer
from treserva_sim.outbound import (
    Enrolment,
    HomeCareUnit,
    Sender,
    enrolment_bundle,
    receipt_bundle,
)

SENDER = Sender("GOTLAND-SOF", "http://treserva.test/fhir", "http://bridge.test/fhir")
ENROLMENT = Enrolment(
    episode_id="HSV-0001",
    personnummer="194209179938",
    family="Raukström",
    given=("Astrid",),
    unit=HomeCareUnit("SE2321000040-H001", "Hemsjukvården Visby"),
    start=datetime(2030, 1, 2, 9, 30, tzinfo=UTC),
)


def decoded(bundle: dict[str, Any]) -> CareTransitionEvent:
    return decode_message_bundle(json.dumps(bundle).encode())


def test_a_receipt_names_the_notice_it_confirms() -> None:
    event = decoded(receipt_bundle(SENDER, "notice-header-1"))
    assert event.event is EventCode.RECEIPT
    assert event.receipt is not None
    assert (event.receipt.responds_to, event.receipt.code) == ("notice-header-1", "ok")
    assert (event.origin.sending_facility, event.origin.sending_application) == (
        "GOTLAND-SOF",
        "Treserva",
    )


def test_every_receipt_is_a_new_message() -> None:
    first, second = (receipt_bundle(SENDER, "n-1") for _ in range(2))
    assert first["identifier"] != second["identifier"]


def test_an_enrolment_started_carries_patient_unit_and_episode() -> None:
    event = decoded(enrolment_bundle(SENDER, ENROLMENT))
    assert event.event is EventCode.HOMECARE_ENROLMENT_STARTED
    assert event.patient is not None
    assert event.patient.primary_identifier.value == "194209179938"
    assert event.home_care is not None
    assert (event.home_care.episode_id, event.home_care.status) == ("HSV-0001", "active")
    assert event.home_care.managing_unit is not None
    assert event.home_care.managing_unit.hsa_id == "SE2321000040-H001"
    assert event.home_care.start == ENROLMENT.start


def test_an_enrolment_ended_is_finished_with_its_end() -> None:
    end = datetime(2030, 2, 1, 16, 0, tzinfo=UTC)
    event = decoded(enrolment_bundle(SENDER, replace(ENROLMENT, end=end)))
    assert event.event is EventCode.HOMECARE_ENROLMENT_ENDED
    assert event.home_care is not None
    assert (event.home_care.status, event.home_care.end) == ("finished", end)


def test_the_bundles_are_valid_fhir_r4() -> None:
    for bundle in (receipt_bundle(SENDER, "n-1"), enrolment_bundle(SENDER, ENROLMENT)):
        assert validate_resource(bundle) == []


def test_synthetic_personnummer_are_test_series_with_a_valid_check_digit() -> None:
    rng = random.Random(1)
    for _ in range(200):
        number = synthetic_personnummer(rng)
        assert len(number) == 12 and luhn_ok(number[2:])
        assert 980 <= int(number[8:11]) <= 999
