"""OperationOutcome and response messages: built valid, read back by clients."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.outcome import (
    operation_outcome,
    parse_response,
    response_bundle,
)
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.model import EventCode

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
BASE = "http://bridge.test/fhir"


def test_operation_outcome_names_reason_and_fhirpath() -> None:
    # Given a rejection reason and where it is
    # When the outcome is built
    outcome = operation_outcome("check digit is wrong", "Bundle.entry[1].resource.identifier[0]")
    # Then it is one valid error issue with the reason as text and the FHIRPath as expression
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "details": {"text": "check digit is wrong"},
                "expression": ["Bundle.entry[1].resource.identifier[0]"],
            }
        ],
    }
    assert validate_resource(outcome) == []


def test_operation_outcome_masks_personnummer_and_may_omit_location() -> None:
    # Given a reason that quotes a personnummer, and no location
    outcome = operation_outcome("unknown patient 191212121212", None, "not-found", "fatal")
    # When it is read
    (issue,) = outcome["issue"]
    # Then the number is masked and there is no expression
    assert issue["details"]["text"] == "unknown patient 19121212-****"
    assert "expression" not in issue
    assert (issue["severity"], issue["code"]) == ("fatal", "not-found")


def test_ok_response_names_the_request_header() -> None:
    # Given an accepted request whose MessageHeader.id is known
    # When the response is built
    bundle = response_bundle("req-1", "ok", source_endpoint=BASE, now=NOW)
    # Then it is a valid response message pointing at the request, without details
    (entry,) = bundle["entry"]
    header = entry["resource"]
    assert header["response"] == {"identifier": "req-1", "code": "ok"}
    assert header["eventCoding"]["code"] == "receipt"
    assert bundle["type"] == "message"
    assert validate_resource(bundle) == []


def test_error_response_carries_the_outcome_as_details() -> None:
    # Given a rejection
    outcome = operation_outcome("unknown event code", "Bundle.entry[0].resource.eventCoding")
    # When a fatal-error response is built, repeating the request's event
    bundle = response_bundle(
        "req-2", "fatal-error", source_endpoint=BASE, now=NOW, outcome=outcome,
        event=EventCode.ADMISSION,
    )  # fmt: skip
    # Then MessageHeader.response.details references the OperationOutcome entry
    header, details = (entry["resource"] for entry in bundle["entry"])
    assert header["response"]["details"] == {"reference": bundle["entry"][1]["fullUrl"]}
    assert details["resourceType"] == "OperationOutcome"
    assert header["eventCoding"]["code"] == "admission"
    assert validate_resource(bundle) == []


def test_response_arguments_are_checked() -> None:
    # Given an error response without outcome, or a request id that is not a FHIR id
    # When it is built / Then that is a programming error
    with pytest.raises(ValueError, match="OperationOutcome"):
        response_bundle("req", "fatal-error", source_endpoint=BASE, now=NOW)
    with pytest.raises(ValueError, match="FHIR id"):
        response_bundle("not an id", "ok", source_endpoint=BASE, now=NOW)


@pytest.mark.parametrize("code", ["ok", "transient-error", "fatal-error"])
def test_parse_response_reads_what_response_bundle_writes(code: str) -> None:
    # Given a response of each kind, as JSON bytes
    outcome = None if code == "ok" else operation_outcome("busy", "Bundle", "transient")
    bundle = response_bundle("r", code, source_endpoint=BASE, now=NOW, outcome=outcome)  # type: ignore[arg-type]
    # When a client parses it
    parsed = parse_response(orjson.dumps(bundle))
    # Then it gets the code and the outcome's text
    assert parsed == (code, "" if code == "ok" else "busy (at Bundle)")


@pytest.mark.parametrize(
    ("issues", "expected"),
    [
        ([{"severity": "error", "code": "invalid", "diagnostics": "bad"}], "fatal-error"),
        ([{"severity": "error", "code": "transient"}], "transient-error"),
        (
            [{"severity": "fatal", "code": "timeout"}, {"severity": "error", "code": "value"}],
            "fatal-error",
        ),
        ([{"severity": "information", "code": "informational"}], "ok"),
    ],
)
def test_a_bare_operation_outcome_is_classified(
    issues: list[dict[str, str]], expected: str
) -> None:
    # Given an OperationOutcome instead of a response Bundle
    # When it is parsed / Then errors decide: transient kinds may be retried, others not
    code, _ = parse_response({"resourceType": "OperationOutcome", "issue": issues})
    assert code == expected


def test_parse_response_text_prefers_details_then_diagnostics() -> None:
    # Given an outcome with details text in one issue and only diagnostics in the other
    # When it is parsed / Then each issue contributes its best text and FHIRPath
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "d1",
                "details": {"text": "t1"},
            },
            {"severity": "error", "code": "invalid", "diagnostics": "d2", "expression": ["X.y"]},
        ],
    }
    assert parse_response(outcome) == ("fatal-error", "t1; d2 (at X.y)")


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>",
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "message", "entry": []},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "MessageHeader"}}]},
        {
            "resourceType": "Bundle",
            "entry": [
                {"resource": {"resourceType": "MessageHeader", "response": {"code": "maybe"}}}
            ],
        },
    ],
)
def test_parse_response_rejects_what_is_not_an_answer(answer: object) -> None:
    # Given an answer that is neither a response Bundle nor an OperationOutcome
    # When a client parses it / Then it is told so, not crashed
    with pytest.raises(MessageRejected):
        parse_response(answer)  # type: ignore[arg-type]
