"""SIP meetings (kallelse till SIP) as HL7 v2 SIU^S12 (booked), S13 (moved), S15 (cancelled).

SCH carries the appointment id, the times (SCH-11 before v2.7) and the status (SCH-25); TQ1
carries the times from v2.5; one resource group (RGS) lists the place (AIL), the units (AIG) and
the persons (AIP). Roles and the party a participant represents are CWE values: CWE-2 the role
text, CWE-4..6 the party code, its display and ``BRIDGE-PARTY``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import Er7Message, Repetition, Segment
from bridge.domain.hl7.profile import PARTY_CODING_SYSTEM, SIP_REASON
from bridge.domain.hl7.segments import esc, join_fields, segment
from bridge.domain.hl7.timestamps import format_ts, parse_ts
from bridge.domain.hl7.values import clean
from bridge.domain.identifiers import HSA_OIDS
from bridge.domain.model import EventCode, Participant, ResponsibleParty, SipMeeting

_STATUS_TEXT = {"booked": "Booked", "cancelled": "Cancelled"}
_PARTIES = {party.value: party for party in ResponsibleParty}
_PARTY_DISPLAY = {
    ResponsibleParty.REGION: "Region",
    ResponsibleParty.MUNICIPALITY: "Kommun",
    ResponsibleParty.OTHER: "Annan",
}


def decode_sip_meeting(message: Er7Message, event: EventCode) -> SipMeeting:
    sch = message.segment("SCH")
    if sch is None:
        raise MessageRejected("an SIU message needs an SCH segment", "SCH", code="required")
    appointment_id = clean(sch.get(2)) or clean(sch.get(1))
    if appointment_id is None:
        raise MessageRejected("SCH-1/SCH-2 (appointment id) is empty", "SCH-2", code="required")
    start, end = _times(message, sch)
    units, persons = _participants(message)
    return SipMeeting(
        appointment_id=appointment_id,
        status=_status(sch, event),
        start=start,
        end=end,
        location=_location(message),
        participants=(*units, *persons),
    )


def _status(sch: Segment, event: EventCode) -> Literal["booked", "cancelled"]:
    cancelled = event is EventCode.SIP_MEETING_CANCELLED
    expected: Literal["booked", "cancelled"] = "cancelled" if cancelled else "booked"
    written = sch.get(25).strip().lower()
    if written and written != expected:
        raise MessageRejected(
            f"SCH-25 says {_shown(written)} but the message type says the meeting is {expected}",
            "SCH-25",
            code="value",
        )
    return expected


def _shown(text: str) -> str:
    return text if text.isascii() and text.isalnum() and len(text) <= 20 else "something else"


def _times(message: Er7Message, sch: Segment) -> tuple[datetime | None, datetime | None]:
    tq1 = message.segment("TQ1")
    if tq1 is not None and (tq1.get(7).strip() or tq1.get(8).strip()):
        return parse_ts(tq1.get(7), "TQ1-7"), parse_ts(tq1.get(8), "TQ1-8")
    return parse_ts(sch.get(11, 4), "SCH-11"), parse_ts(sch.get(11, 5), "SCH-11")


def _location(message: Er7Message) -> str | None:
    for ail in message.segments("AIL"):
        place = ail.first(3)
        text = clean(place.component(9)) or clean(place.component(1))
        if text is not None:
            return text
    return None


def _participants(message: Er7Message) -> tuple[list[Participant], list[Participant]]:
    units = [
        _participant(
            "unit", clean(aig.first(3).component(1)), clean(aig.first(3).component(2)), aig
        )
        for aig in message.segments("AIG")
    ]
    persons = []
    for aip in message.segments("AIP"):
        xcn = aip.first(3)
        name = " ".join(part for part in (clean(xcn.component(3)), clean(xcn.component(2))) if part)
        persons.append(_participant("person", clean(xcn.component(1)), name or None, aip))
    return [unit for unit in units if unit], [person for person in persons if person]


def _participant(
    kind: str, hsa_id: str | None, name: str | None, resource: Segment
) -> Participant | None:
    coded = resource.first(4)
    role = clean(coded.component(2)) or clean(coded.component(1))
    if hsa_id is None and name is None and role is None:
        return None
    return Participant(
        kind="unit" if kind == "unit" else "person",
        hsa_id=hsa_id,
        name=name,
        role=role,
        party=_party(coded, resource.name),
    )


def _party(coded: Repetition, segment_name: str) -> ResponsibleParty | None:
    code = coded.component(4).strip().lower()
    if not code:
        return None
    party = _PARTIES.get(code)
    if party is None and coded.component(6).strip() == PARTY_CODING_SYSTEM:
        raise MessageRejected(
            "the party must be region, municipality or other", f"{segment_name}-4", code="value"
        )
    return party


def siu_segments(meeting: SipMeeting, version: tuple[int, ...]) -> tuple[list[str], list[str]]:
    """The segments before PID (SCH, TQ1) and after PID/PV1 (RGS and its resources)."""
    times = ""
    if meeting.start is not None and version < (2, 7):
        times = join_fields(["", "", "", format_ts(meeting.start), _ts(meeting.end)], "^")
    sch = segment(
        "SCH",
        {
            1: esc(meeting.appointment_id),
            2: esc(meeting.appointment_id),
            6: SIP_REASON,
            7: SIP_REASON,
            11: times,
            25: _STATUS_TEXT[meeting.status],
        },
    )
    head = [sch]
    if meeting.start is not None and version >= (2, 5):
        head.append(segment("TQ1", {1: "1", 7: format_ts(meeting.start), 8: _ts(meeting.end)}))
    return head, ["RGS|1|A", *_resources(meeting)]


def _ts(moment: datetime | None) -> str:
    return format_ts(moment) if moment is not None else ""


def _resources(meeting: SipMeeting) -> list[str]:
    resources: list[str] = []
    if meeting.location:
        resources.append(segment("AIL", {1: "1", 2: "A", 3: "^" * 8 + esc(meeting.location)}))
    units = [item for item in meeting.participants if item.kind == "unit"]
    persons = [item for item in meeting.participants if item.kind == "person"]
    for number, unit in enumerate(units, start=1):
        resource = join_fields(
            [esc(unit.hsa_id), esc(unit.name), "HSA" if unit.hsa_id else ""], "^"
        )
        resources.append(segment("AIG", {1: str(number), 2: "A", 3: resource, 4: _role(unit)}))
    for number, person in enumerate(persons, start=1):
        authority = f"&{HSA_OIDS[0]}&ISO" if person.hsa_id else ""
        xcn = join_fields([esc(person.hsa_id), esc(person.name), *[""] * 6, authority], "^")
        resources.append(segment("AIP", {1: str(number), 2: "A", 3: xcn, 4: _role(person)}))
    return resources


def _role(participant: Participant) -> str:
    party = participant.party
    coded = ["", esc(participant.role)]
    if party is not None:
        coded += ["", party.value, _PARTY_DISPLAY[party], PARTY_CODING_SYSTEM]
    return join_fields(coded, "^")
