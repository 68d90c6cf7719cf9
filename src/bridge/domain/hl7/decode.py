"""HL7 v2 (ER7) → :class:`CareTransitionEvent`, per docs/mapping.md: ADT (admission … merge,
and home-care enrolment), SIU (SIP meetings) and ACK (receipts).

Every way a message can be wrong ends in :class:`MessageRejected` naming the segment or field,
so the ACK can tell the sender's developer where to look. An ADT^A08 without PV2-9 is a
demographic update (``patient-demographics-changed``): the patient only, no stay; whether it is
forwarded is a routing rule (docs/routing.md). Nothing else escapes.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.hl7.ack_policy import ACK_CONDITIONS
from bridge.domain.hl7.decode_patient import decode_patient
from bridge.domain.hl7.decode_visit import decode_admission_information, decode_encounter
from bridge.domain.hl7.er7 import Er7Message, Segment, parse_er7
from bridge.domain.hl7.header import Hl7Header, peek_header
from bridge.domain.hl7.home_care import decode_home_care, is_home_care
from bridge.domain.hl7.merge import decode_merge
from bridge.domain.hl7.profile import (
    ADT_TRIGGER_EVENTS,
    HOME_CARE_TRIGGER_EVENTS,
    SIU_TRIGGER_EVENTS,
    is_supported_version,
    version_key,
)
from bridge.domain.hl7.receipt import decode_receipt
from bridge.domain.hl7.referral import REFERRAL_MESSAGES, REFERRAL_TRIGGER, decode_referral
from bridge.domain.hl7.sip_meeting import decode_sip_meeting
from bridge.domain.hl7.timestamps import parse_ts
from bridge.domain.hl7.values import clean
from bridge.domain.model import CareTransitionEvent, EventCode, MessageOrigin

__all__ = ["Hl7Header", "MessageIgnored", "decode_hl7", "peek_header"]

_MAX_CONTROL_ID = 199
_ACCEPTED = "; ".join(
    [
        f"ADT^{', '.join(sorted(ADT_TRIGGER_EVENTS))}",
        f"SIU^{', '.join(sorted(SIU_TRIGGER_EVENTS))}",
        "REF^I12, RRI^I12",
        "ACK",
    ]
)
# Where a model constraint that slipped past the explicit checks points in the message.
_MODEL_LOCATIONS = {
    "origin": "MSH",
    "patient": "PID",
    "encounter": "PV1",
    "merge": "MRG",
    "sip_meeting": "SCH",
    "home_care": "PV1",
    "order": "RF1",
    "receipt": "MSA",
}


def decode_hl7(text: str, *, today: date | None = None) -> CareTransitionEvent:
    """Decode one ER7 ADT message; ``today`` fixes the century of 10-digit personnummer."""
    message = parse_er7(text)
    try:
        return _decode(message, today)
    except ValidationError as error:
        first = error.errors()[0]
        location = _MODEL_LOCATIONS.get(str(first["loc"][0]) if first["loc"] else "", "MSH")
        raise MessageRejected(first["msg"], location, code="value") from None


def _decode(message: Er7Message, today: date | None) -> CareTransitionEvent:
    msh = message.msh
    version = _version(msh)
    _check_processing(msh)
    event = _event_code(message)
    origin = _origin(msh)
    if event is EventCode.RECEIPT:
        return CareTransitionEvent(event=event, origin=origin, receipt=decode_receipt(message))
    if event is EventCode.ESTIMATED_DISCHARGE_CHANGED and not _has_estimated_discharge(message):
        event = EventCode.PATIENT_DEMOGRAPHICS_CHANGED
    occurred_at = _occurred_at(message)
    patient = decode_patient(message, version, today)
    if event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED:
        return CareTransitionEvent(
            event=event, origin=origin, occurred_at=occurred_at, patient=patient
        )
    if event in _ORDER_EVENTS:
        return CareTransitionEvent(
            event=event,
            origin=origin,
            occurred_at=occurred_at,
            patient=patient,
            order=decode_referral(message, event),
        )
    if event in _HOME_CARE_EVENTS:
        return CareTransitionEvent(
            event=event,
            origin=origin,
            occurred_at=occurred_at,
            patient=patient,
            home_care=decode_home_care(message, event),
        )
    merge = decode_merge(message, today) if event is EventCode.PATIENT_MERGE else None
    meeting = decode_sip_meeting(message, event) if event in _SIU_EVENTS else None
    return CareTransitionEvent(
        event=event,
        origin=origin,
        occurred_at=occurred_at,
        patient=patient,
        encounter=decode_encounter(message),
        admission_info=decode_admission_information(message),
        merge=merge,
        sip_meeting=meeting,
    )


_HOME_CARE_EVENTS = frozenset(HOME_CARE_TRIGGER_EVENTS.values())
_SIU_EVENTS = frozenset(SIU_TRIGGER_EVENTS.values())
_ORDER_EVENTS = frozenset(REFERRAL_MESSAGES.values())


def _has_estimated_discharge(message: Er7Message) -> bool:
    """An A08 with PV2-9 changes the estimated discharge date; without, the demographics."""
    pv2 = message.segment("PV2")
    return pv2 is not None and clean(pv2.get(9)) is not None


def _version(msh: Segment) -> tuple[int, ...]:
    text = msh.get(12).strip()
    key = version_key(text)
    if key is None:
        raise MessageRejected(
            "MSH-12 holds no HL7 version; 2.3 to 2.8 are supported", "MSH-12", code="required"
        )
    if not is_supported_version(text):
        raise MessageRejected(
            f"HL7 version {text} is not supported; 2.3 to 2.8 are", "MSH-12", code="not-supported"
        )
    return key


PROCESSING_IDS = frozenset({"P", "T", "D"})
"""HL7 table 0103: production, training, debugging."""


def _check_processing(msh: Segment) -> None:
    """MSH-11 (table 0103) and the acknowledgement conditions MSH-15/16 (table 0155)."""
    processing = msh.get(11).strip().upper()
    if processing not in PROCESSING_IDS:
        shown = _shown(processing) if processing else "empty"
        raise MessageRejected(
            f"processing id (MSH-11) {shown} is not supported; P, T or D",
            "MSH-11",
            code="not-supported" if processing else "required",
        )
    for index in (15, 16):
        condition = msh.get(index).strip().upper()
        if condition and condition not in ACK_CONDITIONS:
            raise MessageRejected(
                f"MSH-{index} {_shown(condition)} is not an acknowledgement condition "
                "(table 0155: AL, NE, ER, SU)",
                f"MSH-{index}",
                code="code-invalid",
            )


def _event_code(message: Er7Message) -> EventCode:
    """MSH-9 names the event; EVN-1 is read only when MSH-9 has no trigger.

    An ADT^A01/A03 whose PV1-10 is ``HHC`` is a home-care enrolment, not a hospital stay.
    """
    message_type = message.msh.first(9)
    kind = message_type.component(1).strip().upper()
    trigger = message_type.component(2).strip().upper()
    if kind == "ACK":
        return EventCode.RECEIPT
    evn = message.segment("EVN")
    if not trigger and evn is not None:
        trigger = evn.get(1).strip().upper()
    event = None
    if kind == "ADT":
        event = ADT_TRIGGER_EVENTS.get(trigger)
        if trigger in HOME_CARE_TRIGGER_EVENTS and is_home_care(message):
            event = HOME_CARE_TRIGGER_EVENTS[trigger]
    elif kind == "SIU":
        event = SIU_TRIGGER_EVENTS.get(trigger)
    elif kind in REFERRAL_MESSAGES and trigger == REFERRAL_TRIGGER:
        event = REFERRAL_MESSAGES[kind]
    if event is None:
        raise MessageRejected(
            f"{_shown(kind)}^{_shown(trigger)} is not a message the bridge accepts ({_ACCEPTED})",
            "MSH-9",
            code="not-supported",
        )
    return event


def _shown(code: str) -> str:
    """A code from the message fit to quote back: short and plain, else a placeholder."""
    return code if code.isascii() and code.isalnum() and len(code) <= 7 else "?"


def _origin(msh: Segment) -> MessageOrigin:
    facility = _hd_name(msh, 4)
    if facility is None:
        raise MessageRejected("MSH-4 (sending facility) is empty", "MSH-4", code="required")
    control_id = msh.get(10).strip()
    if not control_id:
        raise MessageRejected("MSH-10 (message control id) is empty", "MSH-10", code="required")
    if len(control_id) > _MAX_CONTROL_ID:
        raise MessageRejected(
            f"MSH-10 is longer than {_MAX_CONTROL_ID} characters", "MSH-10", code="value"
        )
    return MessageOrigin(
        sending_application=_hd_name(msh, 3),
        sending_facility=facility,
        message_id=control_id,
        sent_at=parse_ts(msh.get(7), "MSH-7"),
        hl7_version=msh.get(12).strip(),
    )


def _hd_name(msh: Segment, index: int) -> str | None:
    """An HD field's namespace id, else its universal id."""
    hd = msh.first(index)
    return clean(hd.component(1)) or clean(hd.component(2))


def _occurred_at(message: Er7Message) -> datetime | None:
    evn = message.segment("EVN")
    if evn is None:
        return None
    return parse_ts(evn.get(6), "EVN-6") or parse_ts(evn.get(2), "EVN-2")
