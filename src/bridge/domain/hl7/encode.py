""":class:`CareTransitionEvent` → HL7 v2 ADT (ER7), the inverse of :mod:`decode`.

``decode_hl7(encode_hl7(event, version=v, control_id=event.origin.message_id,
now=event.origin.sent_at))`` gives ``event`` back for every canonical field the mapping covers.
Protected persons: this writes what the event holds; callers remove the address first with
``event.for_destination()``.
"""

from __future__ import annotations

from datetime import datetime

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7 import segments as seg
from bridge.domain.hl7.profile import (
    EVENT_TRIGGERS,
    MESSAGE_STRUCTURES,
    is_supported_version,
    version_key,
)
from bridge.domain.hl7.segments import esc, join_fields
from bridge.domain.hl7.timestamps import format_ts
from bridge.domain.model import CareTransitionEvent, EventCode


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
    caller's mistake) and :class:`MessageRejected` for an event HL7 v2 ADT cannot carry.
    """
    if not is_supported_version(version):
        raise ValueError(f"HL7 version {version!r} is not supported; 2.3 to 2.8 are")
    if not control_id:
        raise ValueError("control_id must not be empty")
    key = version_key(version) or (2, 5)
    trigger = _trigger(event)
    msh = _msh(
        event, trigger, key, version, control_id, now, receiving_application, receiving_facility
    )
    segments = [
        msh,
        seg.evn(event, trigger, key),
        seg.pid(event.patient),
        *seg.pd1_and_arv(event.patient, key),
        seg.pv1(event.encounter),
        *seg.pv2(event),
        *seg.obx(event.admission_info),
    ]
    return "\r".join(segments) + "\r"


def _trigger(event: CareTransitionEvent) -> str:
    trigger = EVENT_TRIGGERS.get(event.event)
    if trigger is None:
        raise MessageRejected(
            f"event {event.event.value} has no HL7 v2 ADT encoding", "event", code="not-supported"
        )
    if event.event is EventCode.ESTIMATED_DISCHARGE_CHANGED and (
        event.encounter is None or event.encounter.estimated_discharge is None
    ):
        raise MessageRejected(
            "an estimated-discharge-changed event needs encounter.estimated_discharge",
            "encounter.estimated_discharge",
            code="required",
        )
    return trigger


def _msh(
    event: CareTransitionEvent,
    trigger: str,
    key: tuple[int, ...],
    version: str,
    control_id: str,
    now: datetime,
    receiving_application: str | None,
    receiving_facility: str | None,
) -> str:
    # v2.3 MSH-9 has two components; the message structure arrived in v2.3.1.
    structure = f"^{MESSAGE_STRUCTURES[trigger]}" if key >= (2, 3, 1) else ""
    message_type = f"ADT^{trigger}{structure}"
    return "MSH|^~\\&|" + join_fields(
        [
            esc(event.origin.sending_application),
            esc(event.origin.sending_facility),
            esc(receiving_application),
            esc(receiving_facility),
            format_ts(now),
            "",
            message_type,
            esc(control_id),
            "P",
            version,
        ]
    )
