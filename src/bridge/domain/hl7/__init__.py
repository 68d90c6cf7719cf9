"""HL7 v2 (ER7) for the bridge: a fast tolerant parser, decode/encode and acknowledgements.

ADT (admission … merge; home-care enrolment as A01/A03 with PV1-10 ``HHC``: :mod:`.home_care`,
:mod:`.merge`), SIU (SIP meetings: :mod:`.sip_meeting`) and ACK (receipts: :mod:`.receipt`).
Pure code: text in, canonical events or text out. See docs/mapping.md for the contract.
"""

from bridge.domain.hl7.ack import AckCode, AckResult, ack_for_rejection, build_ack, parse_ack
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.hl7.er7 import Er7Message, Repetition, Segment, parse_er7, split_batch
from bridge.domain.hl7.header import Hl7Header, peek_header

__all__ = [
    "AckCode",
    "AckResult",
    "Er7Message",
    "Hl7Header",
    "Repetition",
    "Segment",
    "ack_for_rejection",
    "build_ack",
    "decode_hl7",
    "encode_hl7",
    "parse_ack",
    "parse_er7",
    "peek_header",
    "split_batch",
]
