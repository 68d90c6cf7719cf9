""":class:`CareTransitionEvent` → HL7 v2 (ER7), the inverse of :mod:`decode`.

``decode_hl7(encode_hl7(event, version=v, control_id=event.origin.message_id,
now=event.origin.sent_at))`` gives ``event`` back for every canonical field the mapping covers
(docs/mapping.md names the few HL7 v2 has no place for). ADT events, home-care enrolments
(ADT^A01/A03 with PV1-10 ``HHC``), SIP meetings (SIU) and receipts (ACK) have an HL7 v2 form;
SIP plans have none and are refused. A protected person's address is never written: the encoder
applies ``event.for_destination()`` itself, like the FHIR encoder.
"""

from __future__ import annotations

from datetime import datetime

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7 import segments as seg
from bridge.domain.hl7.home_care import pv1_home_care
from bridge.domain.hl7.merge import mrg
from bridge.domain.hl7.profile import (
    EVENT_MESSAGES,
    MESSAGE_STRUCTURES,
    is_supported_version,
    version_key,
)
from bridge.domain.hl7.receipt import ack_segments
from bridge.domain.hl7.referral import message_type, referral_head, referral_notes
from bridge.domain.hl7.segments import esc, join_fields
from bridge.domain.hl7.sip_meeting import siu_segments
from bridge.domain.hl7.timestamps import format_ts
from bridge.domain.model import CareTransitionEvent, EventCode, Patient


def encode_hl7(
    event: CareTransitionEvent,
    *,
    version: str = "2.5",
    control_id: str,
    now: datetime,
    receiving_application: str | None = None,
    receiving_facility: str | None = None,
) -> str:
    """Write ``event`` as one ER7 message (segments ended by CR); MSH-7 is ``now``.

    Raises :class:`ValueError` for an unsupported ``version`` or an empty ``control_id`` (the
    caller's mistake) and :class:`MessageRejected` (``not-supported``: a permanent failure) for
    an event HL7 v2 cannot carry.
    """
    if not is_supported_version(version):
        raise ValueError(f"HL7 version {version!r} is not supported; 2.3 to 2.8 are")
    if not control_id:
        raise ValueError("control_id must not be empty")
    key = version_key(version) or (2, 5)
    event = event.for_destination()
    header = _Header(version, key, control_id, now, receiving_application, receiving_facility)
    if event.event is EventCode.RECEIPT:
        segments = [header.msh(event, "ACK"), *ack_segments(event, key)]
    elif event.order is not None:
        segments = _referral(event, header)
    else:
        segments = _notice(event, header)
    return "\r".join(segments) + "\r"


def _notice(event: CareTransitionEvent, header: _Header) -> list[str]:
    kind, trigger = _message(event)
    key = header.key
    structure = f"^{MESSAGE_STRUCTURES[trigger]}" if key >= (2, 3, 1) else ""
    msh = header.msh(event, f"{kind}^{trigger}{structure}")
    patient = _patient(event)
    person = [seg.pid(patient), *seg.pd1_and_arv(patient, key)]
    visit = [seg.pv1(event.encounter), *seg.pv2(event), *seg.obx(event.admission_info)]
    if event.sip_meeting is not None:
        head, resources = siu_segments(event.sip_meeting, key)
        has_visit = event.encounter is not None or event.admission_info is not None
        return [msh, *head, *person, *(visit if has_visit else []), *resources]
    evn = seg.evn(event, trigger, key)
    if event.home_care is not None:
        return [msh, evn, *person, pv1_home_care(event.home_care)]
    merge = [mrg(event.merge)] if event.merge is not None else []
    return [msh, evn, *person, *merge, *visit]


def _referral(event: CareTransitionEvent, header: _Header) -> list[str]:
    """REF^I12 / RRI^I12: RF1 and PRD, then the patient, then the notes (docs/orders.md)."""
    assert event.order is not None
    patient = _patient(event)
    kind = message_type(event.event)
    if header.key < (2, 3, 1):
        kind = kind.rsplit("^", 1)[0]
    return [
        header.msh(event, kind),
        *referral_head(event.order),
        seg.pid(patient),
        *seg.pd1_and_arv(patient, header.key),
        *referral_notes(event.order),
    ]


def _message(event: CareTransitionEvent) -> tuple[str, str]:
    found = EVENT_MESSAGES.get(event.event)
    if found is None:
        raise MessageRejected(
            f"event {event.event.value} has no HL7 v2 form (docs/mapping.md): route it to a "
            "FHIR destination",
            "event",
            code="not-supported",
        )
    if event.event is EventCode.ESTIMATED_DISCHARGE_CHANGED and (
        event.encounter is None or event.encounter.estimated_discharge is None
    ):
        raise MessageRejected(
            "an estimated-discharge-changed event needs encounter.estimated_discharge",
            "encounter.estimated_discharge",
            code="required",
        )
    return found


def _patient(event: CareTransitionEvent) -> Patient:
    if event.patient is None:  # the model allows this for receipts only
        raise ValueError(f"a {event.event.value} event needs a patient")
    return event.patient


OUTBOUND_CHARSET = "UNICODE UTF-8"


class _Header:
    """What MSH needs beyond the event: version, control id, time and receiver."""

    def __init__(
        self,
        version: str,
        key: tuple[int, ...],
        control_id: str,
        now: datetime,
        receiving_application: str | None,
        receiving_facility: str | None,
    ) -> None:
        self.version = version
        self.key = key
        self.control_id = control_id
        self.now = now
        self.receiving = (receiving_application, receiving_facility)

    def msh(self, event: CareTransitionEvent, message_type: str) -> str:
        return "MSH|^~\\&|" + join_fields(
            [
                esc(event.origin.sending_application),
                esc(event.origin.sending_facility),
                esc(self.receiving[0]),
                esc(self.receiving[1]),
                format_ts(self.now),
                "",
                message_type,
                esc(self.control_id),
                "P",
                self.version,
                "",
                "",
                "",
                "",
                "",
                # The connectors write UTF-8; MSH-18 says so (table 0211).
                OUTBOUND_CHARSET,
            ]
        )
