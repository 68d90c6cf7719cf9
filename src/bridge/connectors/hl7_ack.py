"""What a receiver's HL7 v2 ACK means for a delivery, whichever transport brought it.

HL7 v2 chapter 2 (docs/hl7-conformance.md): AA/CA delivered. AE: an error in the content, the
same message will never be taken (permanent, dead letter at once). AR: rejected for a reason
unrelated to the content (the receiver is down, say), and CE: not committed now: send again
later (transient; a receiver that keeps saying AR ends in the dead letters at the destination's
maximum age). CR: the receiver does not take this type, version or processing id (permanent).
A destination declared ``ack_convention: legacy`` reads AE/CE as transient and AR/CR as
permanent (the bridge's own answers before issue 11). An ACK must name the message it answers
(MSA-2 = the MSH-10 sent): one that names another, or that cannot be read, proves nothing, so the
message is sent again later (transient).
"""

from __future__ import annotations

from bridge.connectors.port import Outcome, SendResult
from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.ack import parse_ack
from bridge.domain.hl7.header import peek_header
from bridge.domain.identifiers import mask_in_text
from bridge.domain.routing import AckConvention

_OUTCOMES = {
    "AA": Outcome.DELIVERED,
    "CA": Outcome.DELIVERED,
    "AE": Outcome.PERMANENT,
    "CE": Outcome.TRANSIENT,
    "AR": Outcome.TRANSIENT,
    "CR": Outcome.PERMANENT,
}
_LEGACY_OUTCOMES = {
    "AA": Outcome.DELIVERED,
    "CA": Outcome.DELIVERED,
    "AE": Outcome.TRANSIENT,
    "CE": Outcome.TRANSIENT,
    "AR": Outcome.PERMANENT,
    "CR": Outcome.PERMANENT,
}


def control_id_of(message: str) -> str:
    """MSH-10 of an outbound ER7 message ("" when it has none)."""
    header = peek_header(message)
    return header.control_id if header is not None else ""


def reply_text(reply: bytes) -> str:
    """ACKs come as UTF-8 mostly, ISO-8859-1 from older systems; both decode here."""
    try:
        return reply.decode("utf-8-sig")
    except UnicodeDecodeError:
        return reply.decode("latin-1")


def classify_ack(
    reply: str,
    sent_control_id: str,
    *,
    status_code: int | None = None,
    convention: AckConvention = AckConvention.STANDARD,
) -> SendResult:
    """The delivery outcome an ACK stands for; its text (masked) becomes the error."""
    try:
        ack = parse_ack(reply)
    except MessageRejected as unreadable:
        error = f"no readable ACK in the answer: {unreadable.reason}"
        return SendResult(Outcome.TRANSIENT, status_code=status_code, error=error)
    if ack.control_id != sent_control_id:
        error = f"ACK names message {ack.control_id!r}, not the {sent_control_id!r} sent"
        return SendResult(Outcome.TRANSIENT, status_code=status_code, error=error)
    outcomes = _LEGACY_OUTCOMES if convention is AckConvention.LEGACY else _OUTCOMES
    outcome = outcomes[ack.code]
    if outcome is Outcome.DELIVERED:
        return SendResult(outcome, status_code=status_code)
    text = mask_in_text(ack.text) if ack.text else "no reason given"
    error = f"receiver answered {ack.code}: {text}"
    return SendResult(outcome, status_code=status_code, error=error)
