"""Canonical event → FHIR R4 (4.0.1) message Bundle, as plain dicts ready for orjson.

The Bundle holds, in this order: the MessageHeader (``focus`` → the Encounter, or the Patient
when the event has no stay), the Patient and the Encounter. Entries are addressed by
``urn:uuid:`` fullUrls derived from ``bundle_id``, so one delivery always encodes to the same
bytes. docs/mapping.md (FHIR section) is the contract; this module builds plain dicts and never
constructs fhir.resources models, which are far too slow for the hot path.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from bridge import __version__
from bridge.domain.fhir import codes
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.fhir.person_identifiers import patient_identifier
from bridge.domain.identifiers import HSA_SYSTEM
from bridge.domain.model import (
    EVENT_CODE_SYSTEM,
    SECURITY_LABEL_SYSTEM,
    Address,
    AdmissionInformation,
    CareTransitionEvent,
    CareUnit,
    Encounter,
    EventCode,
    MessageOrigin,
    Patient,
)

Json = dict[str, Any]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, codes.CANONICAL_BASE)

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


def encode_message_bundle(
    event: CareTransitionEvent,
    *,
    bundle_id: str,
    idempotency_key: str,
    source_name: str,
    source_endpoint: str,
    destination_name: str,
    destination_endpoint: str,
    now: datetime,
) -> dict[str, Any]:
    """The FHIR message Bundle for ``event``; a protected person's address is never in it."""
    if not codes.FHIR_ID.fullmatch(bundle_id):
        raise ValueError("bundle_id must be a FHIR id ([A-Za-z0-9-.]{1,64})")
    event = event.for_destination()
    ids = _EntryIds(bundle_id)
    has_encounter = event.encounter is not None or event.admission_info is not None
    source = {
        "name": source_name,
        "software": "bridge",
        "version": __version__,
        "endpoint": source_endpoint,
    }
    destination = {"name": destination_name, "endpoint": destination_endpoint}
    header = _message_header(event, ids, source, destination, has_encounter)
    entries = [_entry(header), _entry(_patient(event.patient, ids))]
    if has_encounter:
        entries.append(_entry(_encounter(event, ids)))
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": bundle_identifier(idempotency_key),
        "type": "message",
        "timestamp": format_datetime(now),
        "entry": entries,
    }


def dumps(bundle: dict[str, Any]) -> bytes:
    """The wire form: compact UTF-8 JSON."""
    return orjson.dumps(bundle)


def bundle_identifier(idempotency_key: str) -> Json:
    """``urn:uuid:<key>`` when the key is a UUID, else the key under the bridge's own system."""
    try:
        canonical = str(uuid.UUID(idempotency_key))
    except ValueError:
        canonical = None
    if canonical == idempotency_key.lower():
        return {"system": codes.URI_SYSTEM, "value": f"urn:uuid:{canonical}"}
    return {"system": codes.IDEMPOTENCY_KEY_SYSTEM, "value": idempotency_key}


class _EntryIds:
    """Stable resource ids (UUIDs, so fullUrls are ``urn:uuid:<id>``) for one bundle's entries."""

    __slots__ = ("encounter", "header", "patient")

    def __init__(self, bundle_id: str) -> None:
        self.header = str(uuid.uuid5(_NAMESPACE, f"{bundle_id}/MessageHeader"))
        self.patient = str(uuid.uuid5(_NAMESPACE, f"{bundle_id}/Patient"))
        self.encounter = str(uuid.uuid5(_NAMESPACE, f"{bundle_id}/Encounter"))


def _entry(resource: Json) -> Json:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _message_header(
    event: CareTransitionEvent, ids: _EntryIds, source: Json, destination: Json, has_encounter: bool
) -> Json:
    extensions = [_origin_extension(event.origin)]
    if event.occurred_at is not None:
        extensions.insert(
            0, {"url": codes.OCCURRED_AT_URL, "valueDateTime": format_datetime(event.occurred_at)}
        )
    focus = ids.encounter if has_encounter else ids.patient
    return {
        "resourceType": "MessageHeader",
        "id": ids.header,
        "meta": {"profile": [codes.MESSAGE_HEADER_PROFILE]},
        "extension": extensions,
        "eventCoding": {
            "system": EVENT_CODE_SYSTEM,
            "code": event.event.value,
            "display": codes.event_display(event.event),
        },
        "destination": [destination],
        "source": source,
        "focus": [{"reference": f"urn:uuid:{focus}"}],
    }


def _origin_extension(origin: MessageOrigin) -> Json:
    """Where the event came from before the bridge (e.g. TakeCare's MSH-4 and MSH-10)."""
    parts: list[Json] = [
        {"url": "sendingFacility", "valueString": origin.sending_facility},
        {"url": "messageId", "valueString": origin.message_id},
    ]
    if origin.sending_application:
        parts.insert(0, {"url": "sendingApplication", "valueString": origin.sending_application})
    if origin.sent_at is not None:
        parts.append({"url": "sentAt", "valueDateTime": format_datetime(origin.sent_at)})
    if origin.hl7_version:
        parts.append({"url": "hl7Version", "valueString": origin.hl7_version})
    return {"url": codes.MESSAGE_ORIGIN_URL, "extension": parts}


def _patient(patient: Patient, ids: _EntryIds) -> Json:
    meta: Json = {"profile": [codes.PATIENT_PROFILE]}
    if patient.security_labels:
        meta["security"] = [
            {"system": SECURITY_LABEL_SYSTEM, "code": label.value, "display": display}
            for label, display in codes.SECURITY_LABEL_DISPLAY.items()
            if label in patient.security_labels
        ]
    resource: Json = {
        "resourceType": "Patient",
        "id": ids.patient,
        "meta": meta,
        "identifier": [patient_identifier(ident) for ident in patient.identifiers],
    }
    if patient.name is not None:
        name: Json = {"use": "official"}
        _put(name, "family", patient.name.family)
        _put_list(name, "given", patient.name.given)
        resource["name"] = [name]
    _put(resource, "gender", patient.gender)
    if patient.birth_date is not None:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.address is not None and not patient.is_protected:
        resource["address"] = [_address(patient.address)]
    if patient.primary_care_unit is not None:
        resource["generalPractitioner"] = [
            _unit_reference("Organization", patient.primary_care_unit)
        ]
    return resource


def _address(address: Address) -> Json:
    result: Json = {"use": "home"}
    _put_list(result, "line", address.lines)
    _put(result, "city", address.city)
    _put(result, "postalCode", address.postal_code)
    _put(result, "country", address.country)
    return result


def _unit_reference(resource_type: str, unit: CareUnit) -> Json:
    reference: Json = {"type": resource_type}
    if unit.hsa_id:
        reference["identifier"] = {"system": HSA_SYSTEM, "value": unit.hsa_id}
    _put(reference, "display", unit.name)
    return reference


def _encounter(event: CareTransitionEvent, ids: _EntryIds) -> Json:
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
    resource["subject"] = {"reference": f"urn:uuid:{ids.patient}"}
    _put_period(resource, encounter)
    _put_admission_reason(resource, event.admission_info)
    if encounter.unit is not None:
        resource["location"] = [{"location": _unit_reference("Location", encounter.unit)}]
        resource["serviceProvider"] = _unit_reference("Organization", encounter.unit)
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


def _put(target: Json, key: str, value: str | None) -> None:
    """Set ``key`` only for a non-empty value: FHIR has no empty strings."""
    if value:
        target[key] = value


def _put_list(target: Json, key: str, values: tuple[str, ...]) -> None:
    kept = [value for value in values if value]
    if kept:
        target[key] = kept
