"""SIP meeting (kallelse till SIP) ⇄ FHIR Appointment.

The patient is the first participant; every other participant is a person (Practitioner) or a
unit (HealthcareService) with its role as ``type.text`` and the party it represents as an
extension; the meeting place is a participant whose actor is a Location known by its display.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import format_datetime, parse_datetime
from bridge.domain.fhir.entries import EntryIds, Json, bridge_identifier
from bridge.domain.fhir.participants import (
    actor_reference,
    party_extensions,
    read_actor,
    read_party,
)
from bridge.domain.fhir.reader import (
    code_text,
    obj,
    opt_list,
    opt_obj,
    opt_str,
    quoted,
    required_identifier,
)
from bridge.domain.model import Participant, SipMeeting

SERVICE_TYPE = "SIP-möte (samordnad individuell plan)"
Status = Literal["booked", "cancelled"]
_STATUSES: dict[str, Status] = {"booked": "booked", "cancelled": "cancelled"}


def write_appointment(meeting: SipMeeting, ids: EntryIds) -> Json:
    resource: Json = {
        "resourceType": "Appointment",
        "id": ids["Appointment"],
        "meta": {"profile": [codes.APPOINTMENT_PROFILE]},
        "identifier": [bridge_identifier(codes.SIP_MEETING_ID_SYSTEM, meeting.appointment_id)],
        "status": meeting.status,
        "serviceType": [{"text": SERVICE_TYPE}],
    }
    if meeting.start is not None:
        resource["start"] = format_datetime(meeting.start)
    if meeting.end is not None:
        resource["end"] = format_datetime(meeting.end)
    participants: list[Json] = [
        {"actor": ids.reference("Patient"), "required": "required", "status": "accepted"}
    ]
    participants += [_participant(participant) for participant in meeting.participants]
    if meeting.location:
        location = {"type": "Location", "display": meeting.location}
        participants.append({"actor": location, "status": "accepted"})
    resource["participant"] = participants
    return resource


def _participant(participant: Participant) -> Json:
    result: Json = {}
    extensions = party_extensions(participant.party)
    if extensions:
        result["extension"] = extensions
    if participant.role:
        result["type"] = [{"text": participant.role}]
    result["actor"] = actor_reference(participant, "HealthcareService")
    result["status"] = "needs-action"
    return result


def read_appointment(index: BundleIndex, position: int) -> SipMeeting:
    resource = index.resources[position]
    path = index.path(position)
    status = opt_str(resource, "status", path)
    if status not in _STATUSES:
        raise MessageRejected(
            f"a SIP meeting is booked or cancelled, not {quoted(status)}", f"{path}.status"
        )
    participants: list[Participant] = []
    location: str | None = None
    for number, item in enumerate(opt_list(resource, "participant", path)):
        item_path = f"{path}.participant[{number}]"
        item = obj(item, item_path)
        actor = opt_obj(item, "actor", item_path)
        if actor is None:
            continue
        actor_path = f"{item_path}.actor"
        if _is_location(index, actor, actor_path):
            location = location or opt_str(actor, "display", actor_path)
            continue
        role = code_text(opt_list(item, "type", item_path), f"{item_path}.type")
        party = read_party(item, item_path, codes.RESPONSIBLE_PARTY_URL)
        found = read_actor(index, actor, actor_path, role, party)
        if found is not None:
            participants.append(found)
    return SipMeeting(
        appointment_id=required_identifier(
            resource, path, codes.SIP_MEETING_ID_SYSTEM, "a SIP meeting"
        ),
        status=_STATUSES[status],
        start=_time(resource, "start", path),
        end=_time(resource, "end", path),
        location=location,
        participants=tuple(participants),
    )


def _is_location(index: BundleIndex, actor: Json, path: str) -> bool:
    target = opt_str(actor, "reference", path)
    position = None if target is None else index.resolve(target)
    if position is not None:
        return index.type_of(position) == "Location"
    return opt_str(actor, "type", path) == "Location"


def _time(resource: Json, key: str, path: str) -> datetime | None:
    value = resource.get(key)
    return None if value is None else parse_datetime(value, f"{path}.{key}")
