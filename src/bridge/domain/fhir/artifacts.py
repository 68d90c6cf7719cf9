"""Every file under ``schemas/``, built from code: ``scripts/generate_schemas.py`` writes them,
``tests/unit/test_schemas.py`` fails when the committed copies are stale.
"""

from __future__ import annotations

import json
from typing import Any

from bridge.domain.fhir.conformance import (
    admission_information_code_system,
    event_code_system,
    message_definitions,
    responsible_party_code_system,
)
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.fhir.examples import (
    EXAMPLE_BUNDLE_ID,
    EXAMPLE_IDEMPOTENCY_KEY,
    EXAMPLE_NOW,
    EXAMPLE_ROUTE,
    admission_example,
    example_event,
    protected_person_example,
)
from bridge.domain.fhir.structure_definitions import structure_definitions
from bridge.domain.fhir.structure_definitions_events import event_structure_definitions
from bridge.domain.model import CareTransitionEvent, EventCode

CANONICAL_SCHEMA = "canonical/care-transition-event.schema.json"
EXAMPLE_EVENTS = (
    EventCode.PATIENT_MERGE,
    EventCode.PATIENT_DEMOGRAPHICS_CHANGED,
    EventCode.SIP_MEETING_BOOKED,
    EventCode.SIP_PLAN_ESTABLISHED,
    EventCode.HOMECARE_ENROLMENT_STARTED,
    EventCode.RECEIPT,
)
"""Events with a published example beside the admission (one per resource family)."""


def schema_files() -> dict[str, str]:
    """Relative path under ``schemas/`` → file text (JSON, two-space indent, final newline)."""
    resources: dict[str, Any] = {
        CANONICAL_SCHEMA: CareTransitionEvent.model_json_schema(),
        "fhir/CodeSystem-care-transition-event.json": event_code_system(),
        "fhir/CodeSystem-admission-information.json": admission_information_code_system(),
        "fhir/CodeSystem-responsible-party.json": responsible_party_code_system(),
        "fhir/Bundle-message-definitions.json": message_definitions(),
        "fhir/examples/Bundle-admission-example.json": example_bundle(admission_example()),
        "fhir/examples/Bundle-protected-person-example.json": example_bundle(
            protected_person_example()
        ),
    }
    for code in EXAMPLE_EVENTS:
        resources[f"fhir/examples/Bundle-{code.value}-example.json"] = example_bundle(
            example_event(code)
        )
    for definition in [*structure_definitions(), *event_structure_definitions()]:
        resources[f"fhir/StructureDefinition-{definition['id']}.json"] = definition
    return {path: _text(content) for path, content in sorted(resources.items())}


def example_bundle(event: CareTransitionEvent) -> dict[str, Any]:
    return encode_message_bundle(
        event,
        bundle_id=EXAMPLE_BUNDLE_ID,
        idempotency_key=EXAMPLE_IDEMPOTENCY_KEY,
        now=EXAMPLE_NOW,
        **EXAMPLE_ROUTE,
    )


def _text(content: Any) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
