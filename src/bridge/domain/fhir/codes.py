"""Code systems, URLs and display names the bridge's FHIR messages use.

Everything the bridge defines lives under ``http://bridge.gotland.example/fhir/``. The event
code system URL and the HL7 Sweden systems live in the domain model and identifiers modules.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from bridge.domain.identifiers import (
    HSA_OIDS,
    NATIONELLT_RESERVNUMMER_OID,
    NATIONELLT_RESERVNUMMER_SYSTEM,
    PERSONNUMMER_OID,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_OID,
    SAMORDNINGSNUMMER_SYSTEM,
    IdentifierKind,
)
from bridge.domain.model import EventCode, ResponsibleParty, SecurityLabel

FHIR_VERSION = "4.0.1"
RELEASE_DATE = "2025-03-01"
"""The ``date`` of the CapabilityStatement and conformance resources: bump when they change."""
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""The FHIR ``id`` type: what Bundle.id, resource ids and MessageHeader.response.identifier take."""
CANONICAL_BASE = "http://bridge.gotland.example/fhir/"
EXTENSION_BASE = f"{CANONICAL_BASE}StructureDefinition/"
ADMISSION_INFORMATION_SYSTEM = f"{CANONICAL_BASE}CodeSystem/admission-information"
MESSAGE_DEFINITION_BASE = f"{CANONICAL_BASE}MessageDefinition/"
IDEMPOTENCY_KEY_SYSTEM = f"{CANONICAL_BASE}NamingSystem/idempotency-key"
URI_SYSTEM = "urn:ietf:rfc:3986"

PATIENT_PROFILE = f"{EXTENSION_BASE}bridge-patient"
ENCOUNTER_PROFILE = f"{EXTENSION_BASE}bridge-encounter"
MESSAGE_HEADER_PROFILE = f"{EXTENSION_BASE}bridge-message-header"
APPOINTMENT_PROFILE = f"{EXTENSION_BASE}bridge-appointment"
CAREPLAN_PROFILE = f"{EXTENSION_BASE}bridge-careplan"
CARETEAM_PROFILE = f"{EXTENSION_BASE}bridge-careteam"
CONSENT_PROFILE = f"{EXTENSION_BASE}bridge-consent"
EPISODE_OF_CARE_PROFILE = f"{EXTENSION_BASE}bridge-episode-of-care"
SERVICE_REQUEST_PROFILE = f"{EXTENSION_BASE}bridge-homecare-service-request"
TASK_PROFILE = f"{EXTENSION_BASE}bridge-homecare-order-task"

ESTIMATED_DISCHARGE_URL = f"{EXTENSION_BASE}estimated-discharge-date"
HOUSING_SITUATION_URL = f"{EXTENSION_BASE}housing-situation"
SOCIAL_SITUATION_URL = f"{EXTENSION_BASE}social-situation"
CARE_NEEDS_ASSESSMENT_URL = f"{EXTENSION_BASE}care-needs-assessment"
OCCURRED_AT_URL = f"{EXTENSION_BASE}occurred-at"
MESSAGE_ORIGIN_URL = f"{EXTENSION_BASE}message-origin"
WARD_CODE_URL = f"{EXTENSION_BASE}ward-code"
RESPONSIBLE_PARTY_URL = f"{EXTENSION_BASE}responsible-party"
OVERALL_RESPONSIBILITY_URL = f"{EXTENSION_BASE}overall-responsibility"

NAMING_SYSTEM_BASE = f"{CANONICAL_BASE}NamingSystem/"
SIP_MEETING_ID_SYSTEM = f"{NAMING_SYSTEM_BASE}sip-meeting-id"
SIP_PLAN_ID_SYSTEM = f"{NAMING_SYSTEM_BASE}sip-plan-id"
HOMECARE_EPISODE_ID_SYSTEM = f"{NAMING_SYSTEM_BASE}homecare-episode-id"
HOMECARE_ORDER_ID_SYSTEM = f"{NAMING_SYSTEM_BASE}homecare-order-id"
HOMECARE_SERVICE_SYSTEM = f"{CANONICAL_BASE}CodeSystem/homecare-service"
RESPONSIBLE_PARTY_SYSTEM = f"{CANONICAL_BASE}CodeSystem/responsible-party"

ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC_SYSTEM = "http://loinc.org"
PATIENT_CONSENT_LOINC = "59284-0"
MESSAGE_TRANSPORT_SYSTEM = "http://terminology.hl7.org/CodeSystem/message-transport"

LOCAL_RESERVNUMMER_SYSTEM = "urn:bridge:local-reservnummer"
"""System of a local reservnummer whose assigning authority is not an OID (see the model)."""

HSA_SYSTEMS = frozenset(f"urn:oid:{oid}" for oid in HSA_OIDS)

PERSON_NUMBER_SYSTEMS: dict[str, IdentifierKind] = {
    PERSONNUMMER_SYSTEM: IdentifierKind.PERSONNUMMER,
    f"urn:oid:{PERSONNUMMER_OID}": IdentifierKind.PERSONNUMMER,
    SAMORDNINGSNUMMER_SYSTEM: IdentifierKind.SAMORDNINGSNUMMER,
    f"urn:oid:{SAMORDNINGSNUMMER_OID}": IdentifierKind.SAMORDNINGSNUMMER,
}
"""Systems whose values carry a Luhn check digit (a personnummer or a samordningsnummer)."""

RESERVNUMMER_SYSTEMS = frozenset(
    {NATIONELLT_RESERVNUMMER_SYSTEM, f"urn:oid:{NATIONELLT_RESERVNUMMER_OID}"}
)

CLASS_DISPLAY = {"IMP": "inpatient encounter", "AMB": "ambulatory", "EMER": "emergency"}

SECURITY_LABEL_DISPLAY = {
    SecurityLabel.SEKRETESSMARKERING: "Sekretessmarkering",
    SecurityLabel.SKYDDAD_FOLKBOKFORING: "Skyddad folkbokföring",
}


RESPONSIBLE_PARTY_DISPLAY = {
    ResponsibleParty.REGION: "Region",
    ResponsibleParty.MUNICIPALITY: "Municipality",
    ResponsibleParty.OTHER: "Other",
}


class AdmissionInformationCode(StrEnum):
    """What Gotland's routine adds to an admission notice (OBX-3 in HL7 v2, extensions in FHIR)."""

    HOUSING_SITUATION = "housing-situation"
    SOCIAL_SITUATION = "social-situation"
    CARE_NEEDS_ASSESSMENT = "care-needs-assessment"


class EventDefinition(NamedTuple):
    display: str
    definition: str


EVENT_DEFINITIONS: dict[EventCode, EventDefinition] = {
    EventCode.ADMISSION: EventDefinition(
        "Admission",
        "The patient has been admitted to inpatient care and may need municipal or primary care "
        "services after discharge. Swedish: inskrivningsmeddelande. Due within 24 hours.",
    ),
    EventCode.ESTIMATED_DISCHARGE_CHANGED: EventDefinition(
        "Estimated discharge date changed",
        "The estimated date and time of discharge has been set or changed. Swedish: ändrad "
        "beräknad tidpunkt för utskrivning.",
    ),
    EventCode.DISCHARGE_READY: EventDefinition(
        "Discharge-ready",
        "The doctor has judged the patient ready for discharge. Swedish: underrättelse om "
        "utskrivningsklar. Starts the municipality's payment responsibility clock.",
    ),
    EventCode.DISCHARGE_READY_WITHDRAWN: EventDefinition(
        "Discharge-ready withdrawn",
        "The patient is no longer ready for discharge. Swedish: återkallad underrättelse om "
        "utskrivningsklar.",
    ),
    EventCode.DISCHARGE: EventDefinition(
        "Discharge",
        "The patient has been discharged from inpatient care. Swedish: utskrivningsmeddelande.",
    ),
    EventCode.DISCHARGE_CANCELLED: EventDefinition(
        "Discharge cancelled",
        "A discharge notice is withdrawn; the stay continues. Swedish: makulerad utskrivning.",
    ),
    EventCode.ADMISSION_CANCELLED: EventDefinition(
        "Admission cancelled",
        "An admission notice is withdrawn; the stay did not happen or was registered in error. "
        "Swedish: makulerad inskrivning.",
    ),
    EventCode.TRANSFER: EventDefinition(
        "Transfer",
        "The patient has moved to another ward or unit. Swedish: flytt till annan vårdenhet.",
    ),
    EventCode.PATIENT_MERGE: EventDefinition(
        "Patient identities merged",
        "Two identities of one patient are merged, e.g. a reservnummer replaced by a "
        "personnummer. Swedish: sammanslagning av patientidentiteter.",
    ),
    EventCode.SIP_MEETING_BOOKED: EventDefinition(
        "SIP meeting booked",
        "A coordinated individual planning meeting is booked and participants invited. "
        "Swedish: kallelse till SIP-möte.",
    ),
    EventCode.SIP_MEETING_MOVED: EventDefinition(
        "SIP meeting moved",
        "A coordinated individual planning meeting has a new time. Swedish: SIP-möte flyttat.",
    ),
    EventCode.SIP_MEETING_CANCELLED: EventDefinition(
        "SIP meeting cancelled",
        "A coordinated individual planning meeting is cancelled. Swedish: SIP-möte inställt.",
    ),
    EventCode.SIP_PLAN_ESTABLISHED: EventDefinition(
        "SIP established",
        "A coordinated individual plan has been agreed. Swedish: SIP upprättad.",
    ),
    EventCode.SIP_PLAN_UPDATED: EventDefinition(
        "SIP updated",
        "A coordinated individual plan has been revised. Swedish: SIP uppdaterad.",
    ),
    EventCode.SIP_PLAN_CLOSED: EventDefinition(
        "SIP closed",
        "A coordinated individual plan has been closed. Swedish: SIP avslutad.",
    ),
    EventCode.HOMECARE_ENROLMENT_STARTED: EventDefinition(
        "Home health care enrolment started",
        "The patient is enrolled in municipal home health care. Swedish: inskrivning i "
        "hemsjukvården.",
    ),
    EventCode.HOMECARE_ENROLMENT_ENDED: EventDefinition(
        "Home health care enrolment ended",
        "The patient's enrolment in municipal home health care has ended. Swedish: utskrivning "
        "från hemsjukvården.",
    ),
    EventCode.RECEIPT: EventDefinition(
        "Receipt",
        "The receiving system confirms that a notice is in its worklist. Swedish: kvittens.",
    ),
    EventCode.DEVIATION: EventDefinition(
        "Collaboration deviation",
        "A legal deadline of the care transition was missed or met late; the message carries a "
        "DetectedIssue naming the rule, the stay, the sending and receiving units and how late. "
        "Swedish: avvikelse i samverkan.",
    ),
    EventCode.PATIENT_DEMOGRAPHICS_CHANGED: EventDefinition(
        "Patient demographics changed",
        "The patient's name, address, contact details or protected-identity marking changed "
        "(HL7 v2 ADT^A08 without an estimated discharge date); forwarded by the routing file's "
        "rule, by default only for a patient with an open stay or home-care enrolment. "
        "Swedish: ändrade personuppgifter.",
    ),
    EventCode.HOMECARE_ORDER: EventDefinition(
        "Home-care order",
        "Hospital or primary care (private units too) orders home health care or home help "
        "from the municipality: a ServiceRequest and a Task with status requested. Swedish: "
        "beställning/remiss av hemsjukvård eller hemtjänst.",
    ),
    EventCode.HOMECARE_ORDER_ANSWERED: EventDefinition(
        "Home-care order answered",
        "The municipality's answer to a home-care order: Task.status accepted, rejected or "
        "on-hold (more information needed), Task.statusReason the reason; routed back to the "
        "referring unit. Swedish: svar på beställning.",
    ),
}

ADMISSION_INFORMATION_DEFINITIONS: dict[AdmissionInformationCode, EventDefinition] = {
    AdmissionInformationCode.HOUSING_SITUATION: EventDefinition(
        "Housing situation",
        "How and with whom the patient lives. Swedish: boendesituation.",
    ),
    AdmissionInformationCode.SOCIAL_SITUATION: EventDefinition(
        "Social situation",
        "The patient's social circumstances and support. Swedish: social situation.",
    ),
    AdmissionInformationCode.CARE_NEEDS_ASSESSMENT: EventDefinition(
        "Current assessment of care needs",
        "The ward's current assessment of the patient's needs for care and social services. "
        "Swedish: nulägesbedömning av vård- och omsorgsbehov.",
    ),
}


RESPONSIBLE_PARTY_DEFINITIONS: dict[ResponsibleParty, EventDefinition] = {
    ResponsibleParty.REGION: EventDefinition(
        "Region", "The region answers for it: health care. Swedish: regionen (hälso- och sjukvård)."
    ),
    ResponsibleParty.MUNICIPALITY: EventDefinition(
        "Municipality",
        "The municipality answers for it: social services and municipal health care. Swedish: "
        "kommunen (socialtjänst, kommunal hälso- och sjukvård).",
    ),
    ResponsibleParty.OTHER: EventDefinition(
        "Other",
        "Someone else answers for it, e.g. a relative or a private provider. Swedish: annan.",
    ),
}


def event_display(code: EventCode) -> str:
    """The English display name of an event code (the Swedish name is in its definition)."""
    return EVENT_DEFINITIONS[code].display


def message_definition_url(code: EventCode) -> str:
    """Canonical URL of the MessageDefinition for one event."""
    return f"{MESSAGE_DEFINITION_BASE}{code.value}"
