"""Home-care enrolment (inskrivning i hemsjukvården) as HL7 v2: ADT^A01 / ADT^A03 marked by
PV1-10 ``HHC`` (hospital service: home health care), PV1-2 ``R`` (recurring patient).

PV1-19 is the enrolment's episode id, PV1-3 the home-care unit, PV1-44/45 start and end.
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.decode_visit import unit_of_location
from bridge.domain.hl7.er7 import Er7Message
from bridge.domain.hl7.profile import HOME_CARE_PATIENT_CLASS, HOME_CARE_SERVICE
from bridge.domain.hl7.segments import esc, pl, segment
from bridge.domain.hl7.timestamps import format_ts, parse_ts
from bridge.domain.hl7.values import clean
from bridge.domain.model import EventCode, HomeCareEnrolment


def is_home_care(message: Er7Message) -> bool:
    pv1 = message.segment("PV1")
    return pv1 is not None and pv1.get(10).strip().upper() == HOME_CARE_SERVICE


def decode_home_care(message: Er7Message, event: EventCode) -> HomeCareEnrolment:
    pv1 = message.segment("PV1")
    if pv1 is None:  # is_home_care() was true, so this is the caller's mistake
        raise MessageRejected("a home-care enrolment needs PV1", "PV1", code="required")
    episode_id = clean(pv1.get(19))
    if episode_id is None:
        raise MessageRejected(
            "a home-care enrolment needs its episode id in PV1-19", "PV1-19", code="required"
        )
    return HomeCareEnrolment(
        episode_id=episode_id,
        status="active" if event is EventCode.HOMECARE_ENROLMENT_STARTED else "finished",
        start=parse_ts(pv1.get(44), "PV1-44"),
        end=parse_ts(pv1.get(45), "PV1-45"),
        managing_unit=unit_of_location(pv1.first(3)),
    )


def pv1_home_care(enrolment: HomeCareEnrolment) -> str:
    return segment(
        "PV1",
        {
            1: "1",
            2: HOME_CARE_PATIENT_CLASS,
            3: pl(enrolment.managing_unit),
            10: HOME_CARE_SERVICE,
            19: esc(enrolment.episode_id),
            44: format_ts(enrolment.start) if enrolment.start else "",
            45: format_ts(enrolment.end) if enrolment.end else "",
        },
    )
