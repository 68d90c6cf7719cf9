"""The bridge's code systems and message definitions as FHIR R4 resources (published in schemas/).

Built from the enums in code, so the published CodeSystem can never disagree with what the
encoder sends and the decoder accepts.
"""

from __future__ import annotations

from typing import Any

from bridge.domain.fhir import codes
from bridge.domain.model import EVENT_CODE_SYSTEM, EventCode

Json = dict[str, Any]

ARTIFACT_VERSION = "0.1.0"
PUBLISHER = "Region Gotland"


def metadata(resource_type: str, resource_id: str, url: str, name: str, title: str) -> Json:
    """The header every conformance resource of the bridge starts with."""
    return {
        "resourceType": resource_type,
        "id": resource_id,
        "url": url,
        "version": ARTIFACT_VERSION,
        "name": name,
        "title": title,
        "status": "draft",
        "date": codes.RELEASE_DATE,
        "publisher": PUBLISHER,
    }


def event_code_system() -> Json:
    """CodeSystem care-transition-event: one concept per :class:`EventCode`."""
    concepts = [
        {"code": code.value, "display": found.display, "definition": found.definition}
        for code, found in codes.EVENT_DEFINITIONS.items()
    ]
    return {
        **metadata(
            "CodeSystem",
            "care-transition-event",
            EVENT_CODE_SYSTEM,
            "CareTransitionEvent",
            "Care-transition events",
        ),
        "description": (
            "The events the bridge carries between TakeCare and Treserva, one code per event "
            "(MessageHeader.eventCoding). Lag (2017:612) om samverkan vid utskrivning från "
            "sluten hälso- och sjukvård."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def admission_information_code_system() -> Json:
    """CodeSystem admission-information: what Gotland's routine adds to an admission notice."""
    concepts = [
        {"code": code.value, "display": found.display, "definition": found.definition}
        for code, found in codes.ADMISSION_INFORMATION_DEFINITIONS.items()
    ]
    return {
        **metadata(
            "CodeSystem",
            "admission-information",
            codes.ADMISSION_INFORMATION_SYSTEM,
            "AdmissionInformation",
            "Admission information (Gotland routine)",
        ),
        "description": (
            "Items of an inskrivningsmeddelande beyond the statutory minimum: housing and "
            "social situation and a current assessment of care needs (HL7 v2 OBX-3)."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


def message_definitions() -> Json:
    """A collection Bundle with one MessageDefinition per event (CapabilityStatement targets)."""
    return {
        "resourceType": "Bundle",
        "id": "message-definitions",
        "type": "collection",
        "entry": [
            {"fullUrl": codes.message_definition_url(code), "resource": _message_definition(code)}
            for code in EventCode
        ],
    }


def _message_definition(code: EventCode) -> Json:
    found = codes.EVENT_DEFINITIONS[code]
    name = "".join(part.capitalize() for part in code.value.split("-"))
    return {
        **metadata(
            "MessageDefinition",
            code.value,
            codes.message_definition_url(code),
            f"{name}Message",
            f"{found.display} message",
        ),
        "description": found.definition,
        "eventCoding": {"system": EVENT_CODE_SYSTEM, "code": code.value},
        "category": "consequence" if code is EventCode.RECEIPT else "notification",
        "focus": _FOCUS.get(code, _STAY_FOCUS),
        "responseRequired": "never" if code is EventCode.RECEIPT else "always",
    }


_STAY_FOCUS = [
    {"code": "Encounter", "profile": codes.ENCOUNTER_PROFILE, "min": 0, "max": "1"},
    {"code": "Patient", "profile": codes.PATIENT_PROFILE, "min": 0, "max": "1"},
]


def _one(resource_type: str, profile: str) -> list[Json]:
    return [{"code": resource_type, "profile": profile, "min": 1, "max": "1"}]


_FOCUS: dict[EventCode, list[Json]] = {
    EventCode.PATIENT_MERGE: _one("Patient", codes.PATIENT_PROFILE),
    **{
        code: _one("Appointment", codes.APPOINTMENT_PROFILE)
        for code in (
            EventCode.SIP_MEETING_BOOKED,
            EventCode.SIP_MEETING_MOVED,
            EventCode.SIP_MEETING_CANCELLED,
        )
    },
    **{
        code: _one("CarePlan", codes.CAREPLAN_PROFILE)
        for code in (
            EventCode.SIP_PLAN_ESTABLISHED,
            EventCode.SIP_PLAN_UPDATED,
            EventCode.SIP_PLAN_CLOSED,
        )
    },
    **{
        code: _one("EpisodeOfCare", codes.EPISODE_OF_CARE_PROFILE)
        for code in (EventCode.HOMECARE_ENROLMENT_STARTED, EventCode.HOMECARE_ENROLMENT_ENDED)
    },
    EventCode.RECEIPT: [],
}
"""MessageDefinition.focus per event (docs/mapping.md); the rest focus on the stay."""


def responsible_party_code_system() -> Json:
    """CodeSystem responsible-party: which huvudman answers for a SIP intervention."""
    concepts = [
        {"code": party.value, "display": found.display, "definition": found.definition}
        for party, found in codes.RESPONSIBLE_PARTY_DEFINITIONS.items()
    ]
    return {
        **metadata(
            "CodeSystem",
            "responsible-party",
            codes.RESPONSIBLE_PARTY_SYSTEM,
            "ResponsibleParty",
            "Responsible party (huvudman) in a SIP",
        ),
        "description": (
            "Who answers for an intervention of a samordnad individuell plan, whom a participant "
            "represents, and who holds the overall responsibility."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }
