"""validate_resource: R4 structure plus the project's profile rules catch what they should."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bridge.domain.fhir import codes
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.fhir.examples import (
    EXAMPLE_BUNDLE_ID,
    EXAMPLE_IDEMPOTENCY_KEY,
    EXAMPLE_NOW,
    EXAMPLE_ROUTE,
    admission_example,
)
from bridge.domain.fhir.validate import validate_resource

Bundle = dict[str, Any]


def example() -> Bundle:
    return encode_message_bundle(
        admission_example(),
        bundle_id=EXAMPLE_BUNDLE_ID,
        idempotency_key=EXAMPLE_IDEMPOTENCY_KEY,
        now=EXAMPLE_NOW,
        **EXAMPLE_ROUTE,
    )


def header(bundle: Bundle) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def patient(bundle: Bundle) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][1]["resource"]
    return resource


def encounter(bundle: Bundle) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][2]["resource"]
    return resource


def protect_but_keep_address(bundle: Bundle) -> None:
    patient(bundle)["meta"]["security"] = [
        {
            "system": "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel",
            "code": "sekretessmarkering",
        }
    ]


CASES: list[tuple[str, Callable[[Bundle], Any], str]] = [
    ("protected with address", protect_but_keep_address, "resource.address: must be absent"),
    (
        "foreign event system",
        lambda b: header(b)["eventCoding"].__setitem__("system", "http://x"),
        "eventCoding.system",
    ),
    (
        "unknown event code",
        lambda b: header(b)["eventCoding"].__setitem__("code", "A01"),
        "eventCoding.code",
    ),
    (
        "no Swedish identifier",
        lambda b: patient(b).__setitem__("identifier", [{"system": "urn:x", "value": "1"}]),
        "needs a Swedish identifier",
    ),
    (
        "bad check digit",
        lambda b: patient(b)["identifier"][0].__setitem__("value", "191212121213"),
        "check digit",
    ),
    (
        "samordningsnummer under the personnummer system",
        lambda b: patient(b)["identifier"][0].__setitem__("value", "195509742382"),
        "the number is a samordningsnummer",
    ),
    (
        "status against the event",
        lambda b: encounter(b).__setitem__("status", "finished"),
        "needs status in-progress",
    ),
    (
        "class outside the profile",
        lambda b: encounter(b)["class"].__setitem__("code", "HH"),
        "class",
    ),
    ("unknown gender code", lambda b: patient(b).__setitem__("gender", "m"), "gender"),
    (
        "extension without its value",
        lambda b: encounter(b)["extension"][1].pop("valueString"),
        "needs valueString",
    ),
    ("element R4 does not have", lambda b: patient(b).__setitem__("colour", "blue"), "colour"),
    ("malformed date", lambda b: patient(b).__setitem__("birthDate", "1912-13-12"), "birthDate"),
    ("header not first", lambda b: b["entry"].reverse(), "first entry must be a MessageHeader"),
    (
        "dangling focus",
        lambda b: header(b).__setitem__("focus", [{"reference": "urn:uuid:x"}]),
        "focus[0]",
    ),
    (
        "duplicate fullUrl",
        lambda b: b["entry"][2].__setitem__("fullUrl", b["entry"][1]["fullUrl"]),
        "unique",
    ),
]


def test_the_example_is_valid() -> None:
    assert validate_resource(example()) == []


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[case[0] for case in CASES])
def test_violations_are_reported(case: str, change: Callable[[Bundle], Any], expected: str) -> None:
    # Given a valid bundle with one violation
    bundle = copy.deepcopy(example())
    change(bundle)
    # When it is validated
    problems = validate_resource(bundle)
    # Then the violation is reported with its path
    assert any(expected in problem for problem in problems), problems


def test_a_single_resource_is_validated_on_its_own() -> None:
    # Given one Patient resource outside a bundle, with a protected label and an address
    resource = copy.deepcopy(patient(example()))
    protect = {
        "system": "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel",
        "code": "skyddadFolkbokforing",
    }
    resource["meta"]["security"] = [protect]
    # When it is validated / Then the rule applies to it alone
    assert validate_resource(resource) == ["Patient.address: must be absent for a protected person"]


def test_anything_that_is_not_a_resource_is_reported_not_raised() -> None:
    assert validate_resource({"resourceType": "NoSuchThing"}) == [
        "resourceType: unknown resource type 'NoSuchThing'"
    ]
    assert validate_resource({}) == ["resourceType: is required"]
    assert validate_resource([]) == ["resource: must be a JSON object"]  # type: ignore[arg-type]


def test_profile_urls_are_declared_on_emitted_resources() -> None:
    bundle = example()
    assert header(bundle)["meta"]["profile"] == [codes.MESSAGE_HEADER_PROFILE]
    assert patient(bundle)["meta"]["profile"] == [codes.PATIENT_PROFILE]
    assert encounter(bundle)["meta"]["profile"] == [codes.ENCOUNTER_PROFILE]
