"""StructureDefinitions of the bridge's extensions and profiles (FHIR R4, differentials only).

Concise on purpose: each states what docs/mapping.md requires and nothing the base resource
already says. :mod:`bridge.domain.fhir.profile_rules` checks the same rules in code.
"""

from __future__ import annotations

from typing import Any

from bridge.domain.fhir import codes
from bridge.domain.fhir.conformance import metadata
from bridge.domain.identifiers import (
    NATIONELLT_RESERVNUMMER_SYSTEM,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
)
from bridge.domain.model import EVENT_CODE_SYSTEM, SECURITY_LABEL_SYSTEM

Json = dict[str, Any]

_BASE = "http://hl7.org/fhir/StructureDefinition/"
_ORIGIN_PARTS = (
    ("sendingApplication", "string", 0, "Sending application (HL7 v2 MSH-3)"),
    ("sendingFacility", "string", 1, "Sending facility (MSH-4): half of the dedupe key"),
    ("messageId", "string", 1, "Message id at the origin (MSH-10 or Bundle.identifier)"),
    ("sentAt", "dateTime", 0, "When the origin sent it (MSH-7 or Bundle.timestamp)"),
    ("hl7Version", "string", 0, "HL7 v2 version of the original message (MSH-12)"),
)


def structure_definitions() -> list[Json]:
    return [
        *_simple_extensions(),
        message_origin_extension(),
        patient_profile(),
        encounter_profile(),
        message_header_profile(),
    ]


def _structure(
    sd_id: str, name: str, title: str, description: str, type_: str, elements: list[Json]
) -> Json:
    is_extension = type_ == "Extension"
    return {
        **metadata("StructureDefinition", sd_id, f"{codes.EXTENSION_BASE}{sd_id}", name, title),
        "description": description,
        "fhirVersion": codes.FHIR_VERSION,
        "kind": "complex-type" if is_extension else "resource",
        "abstract": False,
        "type": type_,
        "baseDefinition": f"{_BASE}{type_}",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def _extension(sd_id: str, name: str, title: str, description: str, context: str) -> Json:
    return {
        **_structure(sd_id, name, title, description, "Extension", []),
        "context": [{"type": "element", "expression": context}],
    }


def _simple_extensions() -> list[Json]:
    table = (
        ("estimated-discharge-date", "EstimatedDischargeDate", "Estimated discharge date",
         "Beräknad tidpunkt för utskrivning (HL7 v2 PV2-9); R4 Encounter has no element for it.",
         "Encounter", "dateTime"),
        ("housing-situation", "HousingSituation", "Housing situation",
         "Boendesituation, as free text (Gotland routine).", "Encounter", "string"),
        ("social-situation", "SocialSituation", "Social situation",
         "Social situation, as free text (Gotland routine).", "Encounter", "string"),
        ("care-needs-assessment", "CareNeedsAssessment", "Current assessment of care needs",
         "Nulägesbedömning av vård- och omsorgsbehov, as free text (Gotland routine).",
         "Encounter", "string"),
        ("occurred-at", "OccurredAt", "When the event occurred",
         "When the event happened in the source system (HL7 v2 EVN-6, else EVN-2), e.g. the "
         "time of the doctor's discharge-ready judgement.", "MessageHeader", "dateTime"),
    )  # fmt: skip
    result = []
    for sd_id, name, title, description, context, value_type in table:
        extension = _extension(sd_id, name, title, description, context)
        extension["differential"]["element"] = _simple_elements(
            f"{codes.EXTENSION_BASE}{sd_id}", title, description, value_type
        )
        result.append(extension)
    return result


def _simple_elements(url: str, title: str, description: str, value_type: str) -> list[Json]:
    return [
        {"id": "Extension", "path": "Extension", "short": title, "definition": description,
         "max": "1"},
        {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
        {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
         "type": [{"code": value_type}]},
    ]  # fmt: skip


def message_origin_extension() -> Json:
    description = (
        "Where the event came from before the bridge relayed it (e.g. TakeCare's HL7 v2 "
        "message): kept for the receiver's trail; the message's own identity is "
        "Bundle.identifier."
    )
    extension = _extension(
        "message-origin", "MessageOrigin", "Origin of a relayed message", description,
        "MessageHeader",
    )  # fmt: skip
    elements: list[Json] = [
        {"id": "Extension", "path": "Extension", "short": "Origin of a relayed message",
         "definition": description, "max": "1"},
        {"id": "Extension.extension", "path": "Extension.extension", "min": 2,
         "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"}},
    ]  # fmt: skip
    for name, value_type, minimum, short in _ORIGIN_PARTS:
        elements += _origin_part(name, value_type, minimum, short)
    elements += [
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": codes.MESSAGE_ORIGIN_URL},
        {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"},
    ]
    extension["differential"]["element"] = elements
    return extension


def _origin_part(name: str, value_type: str, minimum: int, short: str) -> list[Json]:
    slice_id = f"Extension.extension:{name}"
    return [
        {"id": slice_id, "path": "Extension.extension", "sliceName": name, "short": short,
         "min": minimum, "max": "1"},
        {"id": f"{slice_id}.extension", "path": "Extension.extension.extension", "max": "0"},
        {"id": f"{slice_id}.url", "path": "Extension.extension.url", "fixedUri": name},
        {"id": f"{slice_id}.value[x]", "path": "Extension.extension.value[x]", "min": 1,
         "type": [{"code": value_type}]},
    ]  # fmt: skip


def _constraint(key: str, human: str, expression: str) -> Json:
    return {"key": key, "severity": "error", "human": human, "expression": expression}


def _identifier_slice(name: str, system: str, checked: bool) -> list[Json]:
    slice_id = f"Patient.identifier:{name}"
    value: Json = {"id": f"{slice_id}.value", "path": "Patient.identifier.value", "min": 1}
    if checked:
        value["constraint"] = [
            _constraint(
                f"bridge-{name[:3]}-1",
                "Twelve digits YYYYMMDDNNNC with a valid Luhn check digit",
                "matches('^[0-9]{12}$')",
            )
        ]
    return [
        {"id": slice_id, "path": "Patient.identifier", "sliceName": name, "max": "1"},
        {"id": f"{slice_id}.system", "path": "Patient.identifier.system", "min": 1,
         "fixedUri": system},
        value,
    ]  # fmt: skip


def patient_profile() -> Json:
    swedish = (
        f"identifier.where(system = '{PERSONNUMMER_SYSTEM}' or system = "
        f"'{SAMORDNINGSNUMMER_SYSTEM}' or system = '{NATIONELLT_RESERVNUMMER_SYSTEM}' or "
        f"type.coding.where(system = '{codes.IDENTIFIER_TYPE_SYSTEM}' and code = 'PI')"
        ".exists()).exists()"
    )
    protected = (
        f"meta.security.where(system = '{SECURITY_LABEL_SYSTEM}').exists() implies address.empty()"
    )
    elements: list[Json] = [
        {"id": "Patient", "path": "Patient", "constraint": [
            _constraint("bridge-pat-1", "A Swedish identifier is required", swedish),
            _constraint("bridge-pat-2", "A protected person's address is never sent", protected),
        ]},
        {"id": "Patient.meta.security", "path": "Patient.meta.security",
         "short": "sekretessmarkering | skyddadFolkbokforing (HL7 Sweden SecurityLabel)"},
        {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1,
         "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}},
        *_identifier_slice("personnummer", PERSONNUMMER_SYSTEM, checked=True),
        *_identifier_slice("samordningsnummer", SAMORDNINGSNUMMER_SYSTEM, checked=True),
        *_identifier_slice("nationelltReservnummer", NATIONELLT_RESERVNUMMER_SYSTEM, checked=False),
        {"id": "Patient.address", "path": "Patient.address", "max": "1",
         "short": "Folkbokföringsadress; absent for a protected person"},
        {"id": "Patient.telecom", "path": "Patient.telecom",
         "short": "Telephone (phone), e-mail (email); use home or work (HL7 v2 PID-13 / PID-14)"},
        {"id": "Patient.generalPractitioner", "path": "Patient.generalPractitioner", "max": "1",
         "short": "The patient's primary care unit (vårdcentral) by HSA-id",
         "type": [{"code": "Reference", "targetProfile": [f"{_BASE}Organization"]}]},
        {"id": "Patient.link", "path": "Patient.link",
         "short": "Merge: replaces → the prior identity; replaced-by on the prior identity"},
    ]  # fmt: skip
    return _structure(
        "bridge-patient", "BridgePatient", "Patient in a care-transition message",
        "The patient a notice is about, identified on the HL7 Sweden identifier systems.",
        "Patient", elements,
    )  # fmt: skip


def _extension_slice(resource: str, name: str, sd_id: str) -> Json:
    return {
        "id": f"{resource}.extension:{name}",
        "path": f"{resource}.extension",
        "sliceName": name,
        "max": "1",
        "type": [{"code": "Extension", "profile": [f"{codes.EXTENSION_BASE}{sd_id}"]}],
    }


def _extension_slicing(resource: str) -> Json:
    return {
        "id": f"{resource}.extension",
        "path": f"{resource}.extension",
        "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
    }


def encounter_profile() -> Json:
    class_rule = "code = 'IMP' or code = 'AMB' or code = 'EMER'"
    elements: list[Json] = [
        _extension_slicing("Encounter"),
        _extension_slice("Encounter", "estimatedDischargeDate", "estimated-discharge-date"),
        _extension_slice("Encounter", "housingSituation", "housing-situation"),
        _extension_slice("Encounter", "socialSituation", "social-situation"),
        _extension_slice("Encounter", "careNeedsAssessment", "care-needs-assessment"),
        {"id": "Encounter.identifier", "path": "Encounter.identifier",
         "short": "Visit number (identifier type VN)"},
        {"id": "Encounter.status", "path": "Encounter.status",
         "short": "in-progress, finished (discharge) or cancelled (admission-cancelled)"},
        {"id": "Encounter.class", "path": "Encounter.class",
         "patternCoding": {"system": codes.ACT_CODE_SYSTEM},
         "constraint": [_constraint("bridge-enc-1", "IMP, AMB or EMER", class_rule)]},
        {"id": "Encounter.subject", "path": "Encounter.subject", "min": 1,
         "type": [{"code": "Reference", "targetProfile": [codes.PATIENT_PROFILE]}]},
        {"id": "Encounter.period", "path": "Encounter.period",
         "short": "start = admitted (PV1-44), end = discharged (PV1-45)"},
        {"id": "Encounter.reasonCode", "path": "Encounter.reasonCode", "max": "1",
         "short": "Inskrivningsorsak, as text"},
        {"id": "Encounter.location", "path": "Encounter.location", "max": "1",
         "short": "The ward, by HSA-id"},
        {"id": "Encounter.serviceProvider", "path": "Encounter.serviceProvider",
         "short": "The care unit responsible, by HSA-id"},
    ]  # fmt: skip
    return _structure(
        "bridge-encounter", "BridgeEncounter", "Hospital stay in a care-transition message",
        "The inpatient stay a notice is about (the focus of the message).", "Encounter",
        elements,
    )  # fmt: skip


def message_header_profile() -> Json:
    elements: list[Json] = [
        _extension_slicing("MessageHeader"),
        _extension_slice("MessageHeader", "occurredAt", "occurred-at"),
        _extension_slice("MessageHeader", "messageOrigin", "message-origin"),
        {"id": "MessageHeader.event[x]", "path": "MessageHeader.event[x]",
         "short": "A code from the care-transition-event code system",
         "type": [{"code": "Coding"}], "patternCoding": {"system": EVENT_CODE_SYSTEM}},
        {"id": "MessageHeader.destination", "path": "MessageHeader.destination", "min": 1},
        {"id": "MessageHeader.response", "path": "MessageHeader.response",
         "short": "A receipt: the confirmed MessageHeader.id and ok | transient-error | "
                  "fatal-error"},
        {"id": "MessageHeader.focus", "path": "MessageHeader.focus", "max": "1",
         "short": "What the event is about: Encounter (else Patient), the surviving Patient "
                  "(merge), Appointment, CarePlan or EpisodeOfCare; none in a receipt"},
    ]  # fmt: skip
    return _structure(
        "bridge-message-header", "BridgeMessageHeader", "Care-transition message header",
        "The header of a care-transition notice: which event, from where, to where, about what.",
        "MessageHeader", elements,
    )  # fmt: skip
