"""The CapabilityStatement served at ``GET /fhir/metadata``."""

from __future__ import annotations

from typing import Any

from bridge import __version__
from bridge.domain.fhir import codes
from bridge.domain.model import EventCode

PROCESS_MESSAGE = "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"


def capability_statement(base_url: str, *, date: str = codes.RELEASE_DATE) -> dict[str, Any]:
    """What this bridge instance at ``base_url`` (e.g. ``https://bridge.example``) supports."""
    fhir_base = f"{base_url.rstrip('/')}/fhir"
    return {
        "resourceType": "CapabilityStatement",
        "id": "bridge",
        "url": f"{codes.CANONICAL_BASE}CapabilityStatement/bridge",
        "version": __version__,
        "name": "BridgeCareTransitionMessaging",
        "title": "Bridge: care-transition notices between TakeCare and Treserva",
        "status": "active",
        "date": date,
        "publisher": "Region Gotland",
        "description": (
            "Accepts FHIR R4 message Bundles (MessageHeader first, eventCoding from the "
            "care-transition-event code system) at $process-message and answers with a response "
            "message or an OperationOutcome."
        ),
        "kind": "instance",
        "software": {"name": "bridge", "version": __version__},
        "implementation": {"description": "bridge FHIR messaging endpoint", "url": fhir_base},
        "fhirVersion": codes.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "operation": [{"name": "process-message", "definition": PROCESS_MESSAGE}],
            }
        ],
        "messaging": [_messaging(fhir_base)],
    }


def _messaging(fhir_base: str) -> dict[str, Any]:
    supported = [
        {"mode": mode, "definition": codes.message_definition_url(code)}
        for mode in ("receiver", "sender")
        for code in EventCode
    ]
    return {
        "endpoint": [
            {
                "protocol": {"system": codes.MESSAGE_TRANSPORT_SYSTEM, "code": "http"},
                "address": f"{fhir_base}/$process-message",
            }
        ],
        "documentation": (
            "Duplicates are recognised on Bundle.identifier (else MessageHeader.id) per source; "
            "a repeated message is acknowledged again and delivered once."
        ),
        "supportedMessage": supported,
    }
