"""FHIR R4 message Bundle → canonical event: the inverse of :mod:`bridge.domain.fhir.encode`.

Accepts what the encoder writes and what a reasonable other system sends (see the FHIR section
of docs/mapping.md). Every problem is a :class:`MessageRejected` naming the element by FHIRPath;
no input, however broken, raises anything else. Bodies over 1 MiB are refused before parsing,
and nesting is capped at 1024 levels by orjson; the reader itself never recurses.

The decoded ``origin`` is this message's own identity — the dedupe key at the bridge's edge:
sending facility = ``MessageHeader.source.name`` (else ``source.endpoint``, else the sender's
identifier or name), message id = ``Bundle.identifier.value`` (else ``MessageHeader.id``). Where
the event came from before an earlier bridge relayed it is in the ``message-origin`` extension,
read by :func:`relayed_origin`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import parse_datetime
from bridge.domain.fhir.home_care import read_episode_of_care
from bridge.domain.fhir.home_care_order import read_order
from bridge.domain.fhir.merge import read_merge
from bridge.domain.fhir.read_encounter import extension_map, read_encounter
from bridge.domain.fhir.read_patient import read_patient
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str, quoted
from bridge.domain.fhir.receipt import read_receipt
from bridge.domain.fhir.sip_meeting import read_appointment
from bridge.domain.fhir.sip_plan import read_sip_plan
from bridge.domain.model import (
    EVENT_CODE_SYSTEM,
    REQUIRED_PART,
    CareTransitionEvent,
    EventCode,
    MessageOrigin,
)

MAX_BODY_BYTES = 1 << 20
MAX_MESSAGE_ID = 199
HEADER = "Bundle.entry[0].resource"
READ_FAILURE = "the message could not be read as a FHIR message Bundle"

_BOM = b"\xef\xbb\xbf"


def decode_message_bundle(body: bytes | str | dict[str, Any]) -> CareTransitionEvent:
    """The canonical event in a FHIR message Bundle; raises :class:`MessageRejected`."""
    bundle = parse_body(body)
    try:
        return _decode(bundle)
    except MessageRejected:
        raise
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in detail["loc"])
        raise MessageRejected(f"{READ_FAILURE}: {where} {detail['msg']}", "Bundle") from None
    except Exception as error:  # last line of defence: any input must end as a rejection
        raise MessageRejected(READ_FAILURE, "Bundle") from error


def parse_body(body: bytes | str | dict[str, Any]) -> Json:
    """The JSON object in ``body``; size-capped, never raises anything but MessageRejected."""
    if isinstance(body, dict):
        return body
    if isinstance(body, str):
        if len(body) > MAX_BODY_BYTES:
            raise MessageRejected("the message is larger than 1 MiB", "Bundle", code="too-long")
        try:
            body = body.encode()
        except UnicodeEncodeError:
            raise MessageRejected("the message is not valid UTF-8 text", "Bundle") from None
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MessageRejected("the message must be JSON text", "Bundle")
    if len(body) > MAX_BODY_BYTES:
        raise MessageRejected("the message is larger than 1 MiB", "Bundle", code="too-long")
    data = bytes(body[3:]) if bytes(body[:3]) == _BOM else body
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MessageRejected(f"the message is not valid JSON ({error})", "Bundle") from None
    return obj(parsed, "Bundle")


def relayed_origin(body: bytes | str | dict[str, Any]) -> MessageOrigin | None:
    """Where the event came from before a bridge relayed it (the ``message-origin`` extension)."""
    header = _header(BundleIndex(parse_body(body)))
    found = extension_map(header, HEADER).get(codes.MESSAGE_ORIGIN_URL)
    if found is None:
        return None
    extension, path = found
    parts = extension_map(extension, path)

    def part(name: str, value_key: str) -> Any:
        item = parts.get(name)
        return None if item is None else item[0].get(value_key)

    facility, message_id = part("sendingFacility", "valueString"), part("messageId", "valueString")
    if not isinstance(facility, str) or not isinstance(message_id, str):
        raise MessageRejected("message-origin needs sendingFacility and messageId", path)
    sent_at = part("sentAt", "valueDateTime")
    try:
        return MessageOrigin(
            sending_application=part("sendingApplication", "valueString"),
            sending_facility=facility,
            message_id=message_id,
            sent_at=None if sent_at is None else parse_datetime(sent_at, f"{path}.extension"),
            hl7_version=part("hl7Version", "valueString"),
        )
    except ValidationError:
        raise MessageRejected("message-origin has an invalid value", path) from None


def request_header_id(body: bytes | str | dict[str, Any]) -> str | None:
    """The request's MessageHeader.id (for MessageHeader.response), or None; never raises."""
    try:
        header = _header(BundleIndex(parse_body(body)))
    except MessageRejected:
        return None
    header_id = header.get("id")
    return header_id if isinstance(header_id, str) and header_id else None


def _decode(bundle: Json) -> CareTransitionEvent:
    if bundle.get("resourceType") != "Bundle":
        raise MessageRejected(
            f"expected a Bundle, got resourceType {quoted(bundle.get('resourceType'))}", "Bundle"
        )
    if bundle.get("type") != "message":
        raise MessageRejected(
            f"Bundle.type must be 'message', got {quoted(bundle.get('type'))}", "Bundle.type"
        )
    index = BundleIndex(bundle)
    header = _header(index)
    event = _event(header)
    origin = _origin(bundle, header)
    occurred_at = _occurred_at(header)
    if event is EventCode.RECEIPT or "response" in header:
        return CareTransitionEvent(
            event=EventCode.RECEIPT,
            origin=origin,
            occurred_at=occurred_at,
            receipt=read_receipt(index, header, HEADER),
        )
    # A demographic update is about the patient alone: an Encounter beside it is not read.
    about_patient = event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED
    encounter_at = None if about_patient else _encounter_position(index, header)
    encounter, admission_info = (
        (None, None) if encounter_at is None else read_encounter(index, encounter_at)
    )
    patient_at = _patient_position(index, header, encounter_at)
    patient = read_patient(index, patient_at)
    part = _part(event, index, header, patient_at)
    try:
        return CareTransitionEvent(
            event=event,
            origin=origin,
            occurred_at=occurred_at,
            patient=patient,
            encounter=encounter,
            admission_info=admission_info,
            **part,
        )
    except ValidationError as error:
        raise MessageRejected(model_problem(error), f"{HEADER}.eventCoding") from None


def model_problem(error: ValidationError) -> str:
    """The first problem the canonical model found, in words for the sender."""
    return str(error.errors()[0]["msg"]).removeprefix("Value error, ")


_PART_RESOURCES = {
    "sip_meeting": ("Appointment", read_appointment),
    "sip_plan": ("CarePlan", read_sip_plan),
    "home_care": ("EpisodeOfCare", read_episode_of_care),
}


def _part(event: EventCode, index: BundleIndex, header: Json, patient_at: int) -> dict[str, Any]:
    """The event's own part (docs/mapping.md): the focus resource of the type it needs."""
    part = REQUIRED_PART.get(event)
    if part is None:
        return {}
    if part == "merge":
        try:
            return {"merge": read_merge(index, patient_at)}
        except ValidationError as error:
            raise MessageRejected(model_problem(error), index.path(patient_at)) from None
    if part == "order":
        task_at = _focus_of_type(index, header, "Task")
        try:
            return {"order": read_order(index, task_at, None)}
        except ValidationError as error:
            where = index.path(task_at) if task_at is not None else "Bundle.entry"
            raise MessageRejected(model_problem(error), where) from None
    resource_type, reader = _PART_RESOURCES[part]
    position = _focus_of_type(index, header, resource_type)
    if position is None:
        raise MessageRejected(
            f"a {event.value} message needs a {resource_type} entry",
            "Bundle.entry",
            code="required",
        )
    try:
        return {part: reader(index, position)}
    except ValidationError as error:
        raise MessageRejected(model_problem(error), index.path(position)) from None


def _focus_of_type(index: BundleIndex, header: Json, resource_type: str) -> int | None:
    """The focus entry of that type, else the first entry of that type."""
    for position in _focus_positions(index, header):
        if index.type_of(position) == resource_type:
            return position
    return index.first_of(resource_type)


def _focus_positions(index: BundleIndex, header: Json) -> list[int]:
    found: list[int] = []
    for position, focus in enumerate(opt_list(header, "focus", HEADER)):
        path = f"{HEADER}.focus[{position}]"
        reference = opt_str(obj(focus, path), "reference", path)
        if reference is None:
            continue
        target = index.resolve(reference)
        if target is None:
            raise MessageRejected(
                "focus must reference an entry in the Bundle", f"{path}.reference"
            )
        found.append(target)
    return found


def _header(index: BundleIndex) -> Json:
    if index.type_of(0) != "MessageHeader":
        raise MessageRejected(
            f"the first entry must be a MessageHeader, got {quoted(index.type_of(0))}", HEADER
        )
    header = index.resources[0]
    header_id = header.get("id")
    if header_id is not None and not (
        isinstance(header_id, str) and codes.FHIR_ID.fullmatch(header_id)
    ):
        raise MessageRejected(
            "MessageHeader.id must be a FHIR id (A-Z a-z 0-9 - . up to 64 characters)",
            f"{HEADER}.id",
        )
    return header


def _event(header: Json) -> EventCode:
    coding = opt_obj(header, "eventCoding", HEADER)
    if coding is None:
        return _event_from_uri(header)
    path = f"{HEADER}.eventCoding"
    system = opt_str(coding, "system", path)
    if system != EVENT_CODE_SYSTEM:
        raise MessageRejected(
            f"eventCoding.system must be {EVENT_CODE_SYSTEM}, got {quoted(system)}",
            f"{path}.system",
        )
    return _event_code(opt_str(coding, "code", path), f"{path}.code")


def _event_from_uri(header: Json) -> EventCode:
    uri = opt_str(header, "eventUri", HEADER)
    if uri is None or not uri.startswith(codes.MESSAGE_DEFINITION_BASE):
        raise MessageRejected(
            f"MessageHeader needs an eventCoding from {EVENT_CODE_SYSTEM}",
            f"{HEADER}.eventCoding",
        )
    return _event_code(uri.removeprefix(codes.MESSAGE_DEFINITION_BASE), f"{HEADER}.eventUri")


def _event_code(code: str | None, path: str) -> EventCode:
    try:
        return EventCode(code or "")
    except ValueError:
        raise MessageRejected(
            f"unknown event code {quoted(code)}; the codes are listed in {EVENT_CODE_SYSTEM}",
            path,
        ) from None


def _encounter_position(index: BundleIndex, header: Json) -> int | None:
    return _focus_of_type(index, header, "Encounter")


_SUBJECT_KEYS = ("subject", "patient")


def _patient_position(index: BundleIndex, header: Json, encounter_at: int | None) -> int:
    """The focus Patient, else the subject of the Encounter or of the focus, else the first."""
    focus = _focus_positions(index, header)
    for position in focus:
        if index.type_of(position) == "Patient":
            return position
    holders = ([] if encounter_at is None else [encounter_at]) + focus
    for holder in holders:
        resource, path = index.resources[holder], index.path(holder)
        for key in _SUBJECT_KEYS:
            reference = opt_obj(resource, key, path)
            target = None if reference is None else opt_str(reference, "reference", f"{path}.{key}")
            found = None if target is None else index.resolve(target)
            if found is not None and index.type_of(found) == "Patient":
                return found
    found = index.first_of("Patient")
    if found is None:
        raise MessageRejected("the message has no Patient entry", "Bundle.entry")
    return found


def _origin(bundle: Json, header: Json) -> MessageOrigin:
    source = opt_obj(header, "source", HEADER) or {}
    source_path = f"{HEADER}.source"
    facility = opt_str(source, "name", source_path) or opt_str(source, "endpoint", source_path)
    facility = facility or _sender_name(header)
    if facility is None:
        raise MessageRejected(
            "the sending system is not named: set MessageHeader.source.name", f"{source_path}.name"
        )
    timestamp = bundle.get("timestamp")
    return MessageOrigin(
        sending_application=opt_str(source, "software", source_path),
        sending_facility=facility,
        message_id=_message_id(bundle, header),
        sent_at=None if timestamp is None else parse_datetime(timestamp, "Bundle.timestamp"),
    )


def _sender_name(header: Json) -> str | None:
    sender = opt_obj(header, "sender", HEADER)
    if sender is None:
        return None
    path = f"{HEADER}.sender"
    identifier = opt_obj(sender, "identifier", path) or {}
    return opt_str(identifier, "value", f"{path}.identifier") or opt_str(sender, "display", path)


def _message_id(bundle: Json, header: Json) -> str:
    identifier = opt_obj(bundle, "identifier", "Bundle") or {}
    message_id = opt_str(identifier, "value", "Bundle.identifier") or opt_str(header, "id", HEADER)
    if message_id is None:
        raise MessageRejected(
            "the message has no identifier: set Bundle.identifier (or MessageHeader.id)",
            "Bundle.identifier",
        )
    if len(message_id) > MAX_MESSAGE_ID:
        raise MessageRejected(
            f"the message identifier is longer than {MAX_MESSAGE_ID} characters",
            "Bundle.identifier.value",
        )
    return message_id


def _occurred_at(header: Json) -> datetime | None:
    found = extension_map(header, HEADER).get(codes.OCCURRED_AT_URL)
    if found is None:
        return None
    extension, path = found
    return parse_datetime(extension.get("valueDateTime"), f"{path}.valueDateTime")
