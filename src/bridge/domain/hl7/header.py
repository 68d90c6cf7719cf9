"""The MSH header on its own, read even when the rest of the message is garbage.

An acknowledgement must echo MSH-10 and swap the sender and receiver, including for a message
the bridge rejects; :func:`peek_header` therefore never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import MAX_MESSAGE_SIZE, Repetition, Segment, header_segment
from bridge.domain.hl7.er7 import read_separators as _read_separators
from bridge.domain.hl7.escaping import DEFAULT_SEPARATORS, Separators

# The MSH line: at the start of the text or of a line, after blanks, a BOM or MLLP framing.
# Possessive quantifiers: a long run of blanks is scanned once, never backtracked into.
_MSH_LINE = re.compile(r"(?:\A|[\r\n])[^\S\r\n]*+\ufeff?[^\S\r\n]*+(MSH[^\r\n]*)")
# Real MSH segments are a few hundred characters; the fields an ACK needs come early.
_MAX_HEADER_LINE = 4096


@dataclass(frozen=True, slots=True)
class Hl7Header:
    """The MSH fields an acknowledgement needs. HD fields keep their components, unescaped."""

    separators: Separators = DEFAULT_SEPARATORS
    sending_application: tuple[str, ...] = ()
    sending_facility: tuple[str, ...] = ()
    receiving_application: tuple[str, ...] = ()
    receiving_facility: tuple[str, ...] = ()
    message_type: str = ""
    trigger_event: str = ""
    message_structure: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    accept_ack_type: str = ""
    application_ack_type: str = ""
    charset: str = ""
    """MSH-18, first repetition: the character set the message declares (table 0211)."""

    @property
    def enhanced_mode(self) -> bool:
        """True when the sender asked for enhanced acknowledgements (MSH-15/MSH-16 given)."""
        return bool(self.accept_ack_type or self.application_ack_type)


def peek_header(text: str) -> Hl7Header | None:
    """The header of the first MSH segment in ``text``; None when there is no usable one."""
    match = _MSH_LINE.search(text[:MAX_MESSAGE_SIZE])
    if match is None:
        return None
    line = match.group(1)[:_MAX_HEADER_LINE].strip()
    try:
        separators = _read_separators(line)
    except MessageRejected:
        return None
    return header_of(header_segment(line, separators))


def header_of(msh: Segment) -> Hl7Header:
    """Build the header from a parsed MSH segment."""
    message_type = msh.first(9)
    return Hl7Header(
        separators=msh.separators,
        sending_application=_hd(msh.first(3)),
        sending_facility=_hd(msh.first(4)),
        receiving_application=_hd(msh.first(5)),
        receiving_facility=_hd(msh.first(6)),
        message_type=message_type.component(1).strip(),
        trigger_event=message_type.component(2).strip(),
        message_structure=message_type.component(3).strip(),
        control_id=msh.get(10).strip(),
        processing_id=msh.get(11).strip(),
        version=msh.get(12).strip(),
        accept_ack_type=msh.get(15).strip(),
        application_ack_type=msh.get(16).strip(),
        charset=msh.get(18).strip(),
    )


def _hd(rep: Repetition) -> tuple[str, ...]:
    parts = [rep.component(index) for index in (1, 2, 3)]
    while parts and not parts[-1]:
        parts.pop()
    return tuple(parts)
