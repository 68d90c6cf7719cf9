"""schemas/: generated from code, never stale, and valid FHIR R4 / JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bridge.domain.fhir.artifacts import CANONICAL_SCHEMA, schema_files
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.examples import admission_example, protected_person_example
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.model import EVENT_CODE_SYSTEM, CareTransitionEvent, EventCode

SCHEMAS = Path(__file__).parents[2] / "schemas"
GENERATED = schema_files()
FHIR_FILES = sorted(path for path in GENERATED if path.startswith("fhir/"))


def committed(relative: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((SCHEMAS / relative).read_text(encoding="utf-8"))
    return content


@pytest.mark.parametrize("relative", sorted(GENERATED))
def test_committed_file_is_what_the_generator_writes(relative: str) -> None:
    # Given the file as generated from the current code
    # When the committed copy is read
    path = SCHEMAS / relative
    # Then they are identical (run `python scripts/generate_schemas.py` after changing the model)
    assert path.exists(), f"schemas/{relative} is missing: run scripts/generate_schemas.py"
    assert path.read_text(encoding="utf-8") == GENERATED[relative], (
        f"schemas/{relative} is stale: run scripts/generate_schemas.py"
    )


def test_no_file_under_schemas_is_left_over_from_an_older_generator() -> None:
    on_disk = {str(path.relative_to(SCHEMAS)) for path in SCHEMAS.rglob("*.json")}
    assert on_disk == set(GENERATED)


def test_canonical_json_schema_is_the_models_schema() -> None:
    assert committed(CANONICAL_SCHEMA) == CareTransitionEvent.model_json_schema()
    assert committed(CANONICAL_SCHEMA)["title"] == "CareTransitionEvent"


@pytest.mark.parametrize("relative", FHIR_FILES)
def test_every_fhir_file_parses_with_r4b_and_keeps_the_profile_rules(relative: str) -> None:
    # Given a committed FHIR artefact
    resource = committed(relative)
    # When it is parsed with its R4B model and checked against the rules
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    # Then nothing is wrong with it
    assert validate_resource(resource) == []


def test_event_code_system_has_exactly_the_event_codes() -> None:
    # Given the published CodeSystem
    code_system = committed("fhir/CodeSystem-care-transition-event.json")
    # When its concepts are read
    concepts = {concept["code"]: concept for concept in code_system["concept"]}
    # Then they are exactly the EventCode values, each with a display and a definition
    assert code_system["url"] == EVENT_CODE_SYSTEM
    assert set(concepts) == {code.value for code in EventCode}
    assert code_system["count"] == len(EventCode)
    assert all(concept["display"] and concept["definition"] for concept in concepts.values())
    assert "inskrivningsmeddelande" in concepts["admission"]["definition"]


def test_structure_definitions_are_r4_constraints_with_differentials() -> None:
    definitions = [committed(path) for path in FHIR_FILES if "StructureDefinition-" in path]
    assert {sd["id"] for sd in definitions} >= {
        "bridge-patient", "bridge-encounter", "bridge-message-header", "estimated-discharge-date",
        "housing-situation", "social-situation", "care-needs-assessment", "message-origin",
    }  # fmt: skip
    for sd in definitions:
        assert (sd["fhirVersion"], sd["derivation"]) == ("4.0.1", "constraint")
        assert sd["kind"] == ("complex-type" if sd["type"] == "Extension" else "resource")
        assert sd["differential"]["element"]


@pytest.mark.parametrize(
    ("relative", "event"),
    [
        ("fhir/examples/Bundle-admission-example.json", admission_example()),
        ("fhir/examples/Bundle-protected-person-example.json", protected_person_example()),
    ],
)
def test_examples_decode_to_their_events(relative: str, event: CareTransitionEvent) -> None:
    decoded = decode_message_bundle(committed(relative))
    assert decoded.patient == event.for_destination().patient
    assert decoded.encounter == event.encounter
