"""The messages of an episode in ER7, laid out as docs/mapping.md says.

ADT events share the admission's segments (MSH, EVN, PID, PD1, [ARV], PV1, PV2); only the
admission carries Gotland's routine OBX fields. SIP meetings are SIU^S12/S13/S15 (structure
SIU_S12): MSH, SCH, [TQ1], PID, PD1, [ARV], PV1, RGS, AIL, AIG*, AIP*.
"""

from __future__ import annotations

from datetime import datetime

from takecare_sim.episodes import SipMeeting, Step
from takecare_sim.er7 import SEGMENT_END, escape, hl7_time, segment, version_at_least
from takecare_sim.gotland import SipParty
from takecare_sim.messages import (
    Sender,
    build_admission,
    evn,
    msh,
    obx_segments,
    patient_segments,
    pv1,
    pv2,
)
from takecare_sim.patients import Admission

ADT_STRUCTURES = {
    "A01": "ADT_A01",
    "A03": "ADT_A03",
    "A08": "ADT_A01",
    "A11": "ADT_A09",
    "A13": "ADT_A01",
    "A16": "ADT_A16",
    "A25": "ADT_A21",
}
HSA_OID = "1.2.752.29.4.19"
SIP_REASON = "SIP^Samordnad individuell plan^BRIDGE-SIP"
PARTY_DISPLAY = {"region": "Region", "municipality": "Kommun", "other": "Annan"}


def message_type(kind: str, trigger: str, structure: str, version: str) -> str:
    """MSH-9; v2.3 has no message structure component."""
    if version_at_least(version, "2.3.1"):
        return f"{kind}^{trigger}^{structure}"
    return f"{kind}^{trigger}"


def build_step(
    admission: Admission, step: Step, control_id: str, sent_at: datetime, sender: Sender
) -> str:
    """The message for one step of ``admission``'s episode, sent at ``sent_at``."""
    if step.kind == "A01":
        return build_admission(admission, control_id, sent_at, sender)
    if step.kind.startswith("S"):
        assert step.meeting is not None, "a SIP step carries its meeting"
        return build_sip_meeting(admission, step, control_id, sent_at, sender)
    return build_adt(admission, step, control_id, sent_at, sender)


def build_adt(
    admission: Admission, step: Step, control_id: str, sent_at: datetime, sender: Sender
) -> str:
    """ADT A01/A03/A08/A11/A13/A16/A25; the event happened when it is sent (EVN-6)."""
    version = sender.version
    kind = message_type("ADT", step.kind, ADT_STRUCTURES[step.kind], version)
    occurred = admission.admitted_at if step.kind in ("A01", "A11") else sent_at
    discharged = sent_at if step.kind == "A03" else None
    segments = [
        msh(sender, control_id, sent_at, kind),
        evn(step.kind, sent_at, occurred),
        *patient_segments(admission.patient, version),
        pv1(admission, discharged),
        pv2(admission, step.estimated_discharge),
    ]
    if step.kind == "A01":
        segments += obx_segments(admission)
    return SEGMENT_END.join(segments) + SEGMENT_END


def build_sip_meeting(
    admission: Admission, step: Step, control_id: str, sent_at: datetime, sender: Sender
) -> str:
    """SIU^S12 (booked), S13 (moved) or S15 (cancelled) for the step's SIP meeting."""
    meeting = step.meeting
    assert meeting is not None
    version = sender.version
    segments = [
        msh(sender, control_id, sent_at, message_type("SIU", step.kind, "SIU_S12", version)),
        sch(meeting, version),
    ]
    if version_at_least(version, "2.5"):
        segments.append(tq1(meeting))
    segments += [
        *patient_segments(admission.patient, version),
        pv1(admission),
        segment("RGS", {1: "1", 2: "A"}),
        segment("AIL", {1: "1", 2: "A", 3: "^" * 8 + escape(meeting.location)}),
    ]
    units = [party for party in meeting.participants if not party.given]
    persons = [party for party in meeting.participants if party.given]
    segments += [aig(n, unit) for n, unit in enumerate(units, start=1)]
    segments += [aip(n, person) for n, person in enumerate(persons, start=1)]
    return SEGMENT_END.join(segments) + SEGMENT_END


def tq1(meeting: SipMeeting) -> str:
    """TQ1-7/8 start and end. TQ1-1 (set id, optional) stays empty: hl7apy's v2.7 tables,
    which the tests check every message with, break on it."""
    return segment("TQ1", {7: hl7_time(meeting.start), 8: hl7_time(meeting.end)})


def sch(meeting: SipMeeting, version: str) -> str:
    """SCH-1/2 the appointment id, SCH-6/7 SIP, SCH-11 the time (before v2.7), SCH-25 status."""
    fields = {
        1: escape(meeting.appointment_id),
        2: escape(meeting.appointment_id),
        6: SIP_REASON,
        7: SIP_REASON,
        25: "Cancelled" if meeting.cancelled else "Booked",
    }
    if not version_at_least(version, "2.7"):
        fields[11] = f"^^^{hl7_time(meeting.start)}^{hl7_time(meeting.end)}"
    return segment("SCH", fields)


def _role(party: SipParty) -> str:
    display = PARTY_DISPLAY.get(party.party, party.party)
    return f"^{escape(party.role)}^^{party.party}^{display}^BRIDGE-PARTY"


def aig(number: int, unit: SipParty) -> str:
    """A unit taking part: AIG-3 ``HSA-id^name^HSA``, AIG-4 role and party."""
    resource = f"{unit.hsa_id}^{escape(unit.name)}^HSA"
    return segment("AIG", {1: str(number), 2: "A", 3: resource, 4: _role(unit)})


def aip(number: int, person: SipParty) -> str:
    """A person taking part: AIP-3 XCN with the HSA-id and its OID, AIP-4 role and party."""
    name = f"{escape(person.name)}^{escape(person.given)}"
    resource = f"{person.hsa_id}^{name}^^^^^^&{HSA_OID}&ISO"
    return segment("AIP", {1: str(number), 2: "A", 3: resource, 4: _role(person)})
