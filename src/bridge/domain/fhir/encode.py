"""Canonical event → FHIR R4 (4.0.1) message Bundle, as plain dicts ready for orjson.

The Bundle holds the MessageHeader first, then the Patient and the resources the event's kind
needs (docs/mapping.md, "Which resources each event carries"); ``focus`` points at the one the
event is about. Entries are addressed by ``urn:uuid:`` fullUrls derived from ``bundle_id``, so
one delivery always encodes to the same bytes. This module builds plain dicts and never
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
from bridge.domain.fhir.entries import EntryIds, Json, entry
from bridge.domain.fhir.home_care import write_episode_of_care
from bridge.domain.fhir.home_care_order import write_order
from bridge.domain.fhir.merge import write_merge
from bridge.domain.fhir.receipt import write_response
from bridge.domain.fhir.sip_meeting import write_appointment
from bridge.domain.fhir.sip_plan import write_sip_plan
from bridge.domain.fhir.write_stay import ENCOUNTER_STATUS, encounter_resource, patient_resource
from bridge.domain.model import EVENT_CODE_SYSTEM, CareTransitionEvent, MessageOrigin

__all__ = ["ENCOUNTER_STATUS", "bundle_identifier", "dumps", "encode_message_bundle"]


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
    """The FHIR message Bundle for ``event``; a protected person's address is never in it.

    Raises :class:`ValueError` for a ``bundle_id`` that is not a FHIR id (the caller's mistake)
    and :class:`~bridge.domain.errors.MessageRejected` for a receipt FHIR cannot carry.
    """
    if not codes.FHIR_ID.fullmatch(bundle_id):
        raise ValueError("bundle_id must be a FHIR id ([A-Za-z0-9-.]{1,64})")
    event = event.for_destination()
    ids = EntryIds(bundle_id)
    source = {
        "name": source_name,
        "software": "bridge",
        "version": __version__,
        "endpoint": source_endpoint,
    }
    destination = {"name": destination_name, "endpoint": destination_endpoint}
    header = _message_header(event, ids, source, destination)
    resources, focus = _resources(event, ids, header)
    if focus is not None:
        header["focus"] = [ids.reference(focus)]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": bundle_identifier(idempotency_key),
        "type": "message",
        "timestamp": format_datetime(now),
        "entry": [entry(header), *(entry(resource) for resource in resources)],
    }


def _resources(
    event: CareTransitionEvent, ids: EntryIds, header: Json
) -> tuple[list[Json], str | None]:
    """The entries after the MessageHeader, and the role of the one the focus points at."""
    resources: list[Json] = []
    focus: str | None = "Patient"
    if event.patient is not None:
        patient = patient_resource(event.patient, ids.patient)
        resources.append(patient)
        if event.merge is not None:
            resources.append(write_merge(patient, event.merge, event.patient, ids))
    if event.encounter is not None or event.admission_info is not None:
        resources.append(encounter_resource(event, ids))
        focus = "Encounter"
    if event.sip_meeting is not None:
        resources.append(write_appointment(event.sip_meeting, ids))
        focus = "Appointment"
    if event.sip_plan is not None:
        resources += write_sip_plan(event.sip_plan, ids)
        focus = "CarePlan"
    if event.home_care is not None:
        resources.append(write_episode_of_care(event.home_care, ids))
        focus = "EpisodeOfCare"
    if event.order is not None:
        resources += write_order(event.order, ids)
        focus = "Task"
    if event.merge is not None:
        focus = "Patient"
    if event.receipt is not None:
        response, outcome = write_response(event.receipt, ids)
        header["response"] = response
        resources += outcome
        focus = None
    return resources, focus


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


def _message_header(
    event: CareTransitionEvent, ids: EntryIds, source: Json, destination: Json
) -> Json:
    extensions = [_origin_extension(event.origin)]
    if event.occurred_at is not None:
        extensions.insert(
            0, {"url": codes.OCCURRED_AT_URL, "valueDateTime": format_datetime(event.occurred_at)}
        )
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
