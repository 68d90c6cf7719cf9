"""Canonical :class:`Patient` and :class:`Encounter` → FHIR Patient and Encounter resources."""

from __future__ import annotations

from bridge.domain.admission_type import ACT_PRIORITY_SYSTEM, TO_ACT_PRIORITY
from bridge.domain.fhir import codes
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.fhir.entries import EntryIds, Json, put, put_list, unit_reference
from bridge.domain.fhir.person_identifiers import patient_identifier
from bridge.domain.model import (
    SECURITY_LABEL_SYSTEM,
    Address,
    AdmissionInformation,
    CareTransitionEvent,
    Encounter,
    EventCode,
    Patient,
)

ENCOUNTER_STATUS: dict[EventCode, str] = {
    EventCode.ADMISSION: "in-progress",
    EventCode.TRANSFER: "in-progress",
    EventCode.ESTIMATED_DISCHARGE_CHANGED: "in-progress",
    EventCode.DISCHARGE_READY: "in-progress",
    EventCode.DISCHARGE_READY_WITHDRAWN: "in-progress",
    EventCode.DISCHARGE_CANCELLED: "in-progress",
    EventCode.DISCHARGE: "finished",
    EventCode.ADMISSION_CANCELLED: "cancelled",
}
"""Encounter.status per event; events that say nothing about the stay send ``unknown``."""


def security_meta(patient: Patient, profile: str) -> Json:
    meta: Json = {"profile": [profile]}
    if patient.security_labels:
        meta["security"] = [
            {"system": SECURITY_LABEL_SYSTEM, "code": label.value, "display": display}
            for label, display in codes.SECURITY_LABEL_DISPLAY.items()
            if label in patient.security_labels
        ]
    return meta


def patient_resource(patient: Patient, resource_id: str) -> Json:
    resource: Json = {
        "resourceType": "Patient",
        "id": resource_id,
        "meta": security_meta(patient, codes.PATIENT_PROFILE),
        "identifier": [patient_identifier(ident) for ident in patient.identifiers],
    }
    if patient.name is not None:
        name: Json = {"use": "official"}
        put(name, "family", patient.name.family)
        put_list(name, "given", patient.name.given)
        resource["name"] = [name]
    put(resource, "gender", patient.gender)
    if patient.birth_date is not None:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.address is not None and not patient.is_protected:
        resource["address"] = [_address(patient.address)]
    if patient.telecom and not patient.is_protected:
        resource["telecom"] = [
            {"system": contact.system, "value": contact.value, "use": contact.use}
            for contact in patient.telecom
        ]
    if patient.primary_care_unit is not None:
        resource["generalPractitioner"] = [
            unit_reference("Organization", patient.primary_care_unit)
        ]
    return resource


def _address(address: Address) -> Json:
    result: Json = {"use": "home"}
    put_list(result, "line", address.lines)
    put(result, "city", address.city)
    put(result, "postalCode", address.postal_code)
    put(result, "country", address.country)
    return result


def encounter_resource(event: CareTransitionEvent, ids: EntryIds) -> Json:
    encounter = event.encounter or Encounter()
    resource: Json = {
        "resourceType": "Encounter",
        "id": ids.encounter,
        "meta": {"profile": [codes.ENCOUNTER_PROFILE]},
    }
    extensions = _encounter_extensions(encounter, event.admission_info)
    if extensions:
        resource["extension"] = extensions
    if encounter.visit_number:
        resource["identifier"] = [_visit_number(encounter.visit_number)]
    resource["status"] = ENCOUNTER_STATUS.get(event.event, "unknown")
    resource["class"] = {
        "system": codes.ACT_CODE_SYSTEM,
        "code": encounter.class_code,
        "display": codes.CLASS_DISPLAY[encounter.class_code],
    }
    if encounter.admission_type in TO_ACT_PRIORITY:
        code, display = TO_ACT_PRIORITY[encounter.admission_type]
        resource["priority"] = {
            "coding": [{"system": ACT_PRIORITY_SYSTEM, "code": code, "display": display}]
        }
    resource["subject"] = ids.reference("Patient")
    _put_period(resource, encounter)
    _put_admission_reason(resource, event.admission_info)
    if encounter.unit is not None:
        resource["location"] = [{"location": unit_reference("Location", encounter.unit)}]
        resource["serviceProvider"] = unit_reference("Organization", encounter.unit)
    return resource


def _visit_number(value: str) -> Json:
    return {
        "type": {"coding": [{"system": codes.IDENTIFIER_TYPE_SYSTEM, "code": "VN"}]},
        "value": value,
    }


def _put_period(resource: Json, encounter: Encounter) -> None:
    period: Json = {}
    if encounter.admitted_at is not None:
        period["start"] = format_datetime(encounter.admitted_at)
    if encounter.discharged_at is not None:
        period["end"] = format_datetime(encounter.discharged_at)
    if period:
        resource["period"] = period


def _put_admission_reason(resource: Json, info: AdmissionInformation | None) -> None:
    if info is not None and info.reason_for_admission:
        resource["reasonCode"] = [{"text": info.reason_for_admission}]


def _encounter_extensions(encounter: Encounter, info: AdmissionInformation | None) -> list[Json]:
    extensions: list[Json] = []
    if encounter.estimated_discharge is not None:
        value = format_datetime(encounter.estimated_discharge)
        extensions.append({"url": codes.ESTIMATED_DISCHARGE_URL, "valueDateTime": value})
    if info is not None:
        for url, text in (
            (codes.HOUSING_SITUATION_URL, info.housing_situation),
            (codes.SOCIAL_SITUATION_URL, info.social_situation),
            (codes.CARE_NEEDS_ASSESSMENT_URL, info.care_needs_assessment),
        ):
            if text:
                extensions.append({"url": url, "valueString": text})
    return extensions
