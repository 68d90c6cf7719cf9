"""Reading posted message Bundles and writing the answers, with plain values."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from treserva_sim.fhir import InvalidBundleError, operation_outcome, read_notice, response_bundle
from treserva_sim.samples import admission_bundle

PNR = "194209179938"


def test_reads_key_event_and_patient_from_the_bundle() -> None:
    bundle = admission_bundle(PNR, idempotency_key="k-1", event_code="discharge-ready")
    notice = read_notice(bundle, None)
    assert notice.idempotency_key == "urn:uuid:k-1"
    assert notice.event_code == "discharge-ready"
    assert notice.patient_identifier == PNR
    assert notice.header["resourceType"] == "MessageHeader"


def test_the_idempotency_key_header_wins_over_the_bundle_identifier() -> None:
    assert read_notice(admission_bundle(PNR), " key-from-header ").idempotency_key == (
        "key-from-header"
    )


def test_without_bundle_identifier_the_message_header_id_is_the_key() -> None:
    bundle = admission_bundle(PNR)
    del bundle["identifier"]
    assert read_notice(bundle, None).idempotency_key == bundle["entry"][0]["resource"]["id"]


def test_a_notice_without_patient_has_no_patient_identifier() -> None:
    bundle = admission_bundle(PNR)
    bundle["entry"] = [bundle["entry"][0]]
    assert read_notice(bundle, None).patient_identifier is None


def _broken(change: str) -> Any:
    """An admission bundle with one thing wrong, as named by ``change``."""
    bundle: Any = admission_bundle(PNR)
    header = bundle["entry"][0]["resource"]
    if change == "not-object":
        return []
    if change in {"not-bundle", "not-message", "no-entries", "header-not-first"}:
        replacements = {
            "not-bundle": {"resourceType": "Patient"},
            "not-message": {"type": "collection"},
            "no-entries": {"entry": []},
            "header-not-first": {"entry": bundle["entry"][1:]},
        }
        return bundle | replacements[change]
    if change == "no-header-id":
        del header["id"]
    elif change == "no-event":
        del header["eventCoding"]
    elif change == "no-event-code":
        del header["eventCoding"]["code"]
    return bundle


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ("not-object", "Bundle"),
        ("not-bundle", "Bundle.resourceType"),
        ("not-message", "Bundle.type"),
        ("no-entries", "Bundle.entry"),
        ("header-not-first", "Bundle.entry[0]"),
        ("no-header-id", "MessageHeader.id"),
        ("no-event", "MessageHeader.eventCoding"),
        ("no-event-code", "MessageHeader.eventCoding.code"),
    ],
)
def test_a_malformed_bundle_is_refused_naming_the_element(change: str, location: str) -> None:
    with pytest.raises(InvalidBundleError) as refused:
        read_notice(_broken(change), None)
    assert refused.value.location == location


def test_the_response_is_a_valid_r4_response_message() -> None:
    request = admission_bundle(PNR)["entry"][0]["resource"]
    answer = response_bundle(request, "http://treserva.example/fhir")
    header = answer["entry"][0]["resource"]
    assert header["response"] == {"identifier": request["id"], "code": "ok"}
    assert header["eventCoding"] == request["eventCoding"]
    assert header["destination"] == [{"endpoint": request["source"]["endpoint"]}]
    Bundle.model_validate(answer)


def test_operation_outcome_is_valid_and_names_the_location() -> None:
    outcome = operation_outcome("invalid", "Bundle.type must be message", "Bundle.type")
    assert outcome["issue"][0]["expression"] == ["Bundle.type"]
    OperationOutcome.model_validate(outcome)
