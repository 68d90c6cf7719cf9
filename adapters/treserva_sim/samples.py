"""Example notices shaped as docs/mapping.md describes, for tests, demos and curl sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

EVENT_SYSTEM = "http://bridge.gotland.example/fhir/CodeSystem/care-transition-event"
EXTENSION_BASE = "http://bridge.gotland.example/fhir/StructureDefinition/"
PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SECURITY_SYSTEM = "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"


def _patient(patient_id: str, personnummer: str, protection: str | None) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": personnummer}],
        "name": [{"family": "Raukström", "given": ["Astrid"]}],
        "generalPractitioner": [
            {"identifier": {"system": HSA_SYSTEM, "value": "SE2321000040-P001"}}
        ],
    }
    if protection:
        patient["meta"] = {"security": [{"system": SECURITY_SYSTEM, "code": protection}]}
    else:
        patient["address"] = [{"line": ["Testgatan 1"], "postalCode": "621 41", "city": "Visby"}]
    return patient


def _encounter(encounter_id: str, patient_id: str, estimated_discharge: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"urn:uuid:{patient_id}"},
        "period": {"start": datetime.now(UTC).isoformat(timespec="seconds")},
        "serviceProvider": {
            "identifier": {"system": HSA_SYSTEM, "value": "SE2321000040-W001"},
            "display": "Medicinavdelning 1",
        },
        "location": [{"location": {"display": "Medicinavdelning 1"}}],
        "reasonCode": [{"text": "Hjärtsvikt, försämring"}],
        "extension": [
            {
                "url": EXTENSION_BASE + "estimated-discharge-date",
                "valueDateTime": estimated_discharge,
            }
        ],
    }


def admission_bundle(
    personnummer: str = "194209179938",
    idempotency_key: str | None = None,
    event_code: str = "admission",
    protection: str | None = None,
    estimated_discharge: str = "2030-01-10",
) -> dict[str, Any]:
    """A FHIR R4 message Bundle carrying one admission notice for a synthetic patient."""
    key = idempotency_key or str(uuid.uuid4())
    header_id, patient_id, encounter_id = (str(uuid.uuid4()) for _ in range(3))
    header = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": {"system": EVENT_SYSTEM, "code": event_code},
        "source": {"name": "bridge", "endpoint": "http://bridge.example/fhir"},
        "destination": [{"endpoint": "http://treserva.example/fhir"}],
        "focus": [{"reference": f"urn:uuid:{encounter_id}"}],
    }
    resources = (
        header,
        _patient(patient_id, personnummer, protection),
        _encounter(encounter_id, patient_id, estimated_discharge),
    )
    return {
        "resourceType": "Bundle",
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{key}"},
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
