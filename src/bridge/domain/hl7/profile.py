"""The bridge's HL7 v2 profile: which versions and ADT triggers it carries, and its codes.

Shared by the decoder, the encoder and the acknowledgement builder so that they cannot drift.
"""

from __future__ import annotations

from bridge.domain.model import EventCode

SUPPORTED_VERSIONS = ((2, 3), (2, 8))
DEFAULT_VERSION = "2.5"

ADT_TRIGGER_EVENTS: dict[str, EventCode] = {
    "A01": EventCode.ADMISSION,
    "A08": EventCode.ESTIMATED_DISCHARGE_CHANGED,
    "A16": EventCode.DISCHARGE_READY,
    "A25": EventCode.DISCHARGE_READY_WITHDRAWN,
    "A03": EventCode.DISCHARGE,
    "A13": EventCode.DISCHARGE_CANCELLED,
    "A11": EventCode.ADMISSION_CANCELLED,
    "A02": EventCode.TRANSFER,
    "A40": EventCode.PATIENT_MERGE,
}
TRIGGER_EVENTS = ADT_TRIGGER_EVENTS
"""ADT trigger → event (kept under its first name; see ADT_TRIGGER_EVENTS)."""

SIU_TRIGGER_EVENTS: dict[str, EventCode] = {
    "S12": EventCode.SIP_MEETING_BOOKED,
    "S13": EventCode.SIP_MEETING_MOVED,
    "S15": EventCode.SIP_MEETING_CANCELLED,
}

HOME_CARE_SERVICE = "HHC"
"""PV1-10 (hospital service) marking an A01/A03 as a home-care enrolment (hemsjukvård)."""
HOME_CARE_PATIENT_CLASS = "R"
HOME_CARE_TRIGGER_EVENTS: dict[str, EventCode] = {
    "A01": EventCode.HOMECARE_ENROLMENT_STARTED,
    "A03": EventCode.HOMECARE_ENROLMENT_ENDED,
}

EVENT_MESSAGES: dict[EventCode, tuple[str, str]] = {
    **{event: ("ADT", trigger) for trigger, event in ADT_TRIGGER_EVENTS.items()},
    **{event: ("SIU", trigger) for trigger, event in SIU_TRIGGER_EVENTS.items()},
    **{event: ("ADT", trigger) for trigger, event in HOME_CARE_TRIGGER_EVENTS.items()},
    EventCode.PATIENT_DEMOGRAPHICS_CHANGED: ("ADT", "A08"),
}
"""Event → (MSH-9 message type, trigger) for every event with an HL7 v2 form but receipts."""
EVENT_TRIGGERS: dict[EventCode, str] = {event: pair[1] for event, pair in EVENT_MESSAGES.items()}

# HL7 table 0354: the abstract message structure each trigger uses.
MESSAGE_STRUCTURES = {
    "A01": "ADT_A01",
    "A02": "ADT_A02",
    "A03": "ADT_A03",
    "A08": "ADT_A01",
    "A11": "ADT_A09",
    "A13": "ADT_A01",
    "A16": "ADT_A16",
    "A25": "ADT_A21",
    "A40": "ADT_A39",
    "S12": "SIU_S12",
    "S13": "SIU_S12",
    "S15": "SIU_S12",
}

SIP_REASON = "SIP^Samordnad individuell plan^BRIDGE-SIP"
PARTY_CODING_SYSTEM = "BRIDGE-PARTY"

ADMISSION_INFO_SYSTEM = "http://bridge.gotland.example/fhir/CodeSystem/admission-information"
ADMISSION_INFO_ALIAS = "BRIDGE-AI"
# OBX-3 code → (AdmissionInformation field, display text)
ADMISSION_INFO_CODES = {
    "housing-situation": ("housing_situation", "Boendesituation"),
    "social-situation": ("social_situation", "Social situation"),
    "care-needs-assessment": (
        "care_needs_assessment",
        "Nulägesbedömning av vård- och omsorgsbehov",
    ),
}

SWEDISH_ID_TYPE = "NNSWE"
RESERVNUMMER_ID_TYPE = "RN"
LOCAL_ID_TYPES = frozenset({"RN", "PI"})
HSA_UNIVERSAL_ID_TYPE = "HSA"


def version_key(version: str) -> tuple[int, ...] | None:
    """``"2.5.1"`` → ``(2, 5, 1)``; None when the text is not a dotted version number."""
    parts = version.strip().split(".")
    if not 2 <= len(parts) <= 3:
        return None
    if not all(part.isascii() and part.isdigit() and len(part) <= 3 for part in parts):
        return None
    return tuple(int(part) for part in parts)


def is_supported_version(version: str) -> bool:
    key = version_key(version)
    low, high = SUPPORTED_VERSIONS
    return key is not None and low <= key[:2] <= high
