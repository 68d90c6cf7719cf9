"""``bridge contract check``: would the bridge accept this message, and if not, why not?

The answer is the bridge's own: the message goes through the same decoder the entrypoints use
(:func:`bridge.service.delivery.accept.decode`) and the answer is built by the same functions
(:mod:`bridge.entrypoints.replies`), so an HL7 message gets the ACK the bridge would send
(only MSH-7 and the ACK's own MSH-10 differ from run to run) and a FHIR message gets the
status and OperationOutcome or response Bundle. Nothing is stored and nothing is sent.

Beyond acceptance, an accepted HL7 message is held against the contract's ``requires`` list:
the fields the receiving side needs (the law's content of an admission notice, say). Those are
warnings, not rejections: the bridge accepts the message without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from bridge.contracts.er7_edit import field_value
from bridge.contracts.model import Hl7Contract
from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.hl7.ack_policy import AckContext
from bridge.domain.hl7.header import peek_header
from bridge.entrypoints.replies import fhir_answer, hl7_ack_for
from bridge.service.delivery.accept import (
    AcceptResult,
    AcceptStatus,
    Inbound,
    decode,
    hl7_messages,
    hl7_text,
)
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2

Format = Literal["hl7v2", "fhir"]
BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class CheckResult:
    """The bridge's verdict on one message."""

    format: Format
    accepted: bool
    answer: str
    status: int | None = None
    event: str | None = None
    reason: str | None = None
    location: str | None = None
    missing: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        if self.accepted:
            return f"ACCEPTED ({self.event})"
        return f"REJECTED at {self.location or 'the message'}: {self.reason}"


def detect_format(body: bytes) -> Format:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n\x0b")[:1]
    return "fhir" if head in (b"{", b"[") else "hl7v2"


def check_message(
    body: bytes,
    contracts: list[Hl7Contract] | None = None,
    base_url: str = BASE_URL,
    *,
    context: AckContext | None = None,
) -> list[CheckResult]:
    """One result per message (an HL7 FHS/BHS batch holds several). ``context``: who the bridge
    is and its sources' acknowledgement conventions (default: the standard rules)."""
    if detect_format(body) == "fhir":
        return [_check_fhir(body, base_url)]
    return [_check_hl7(raw, contracts or [], context) for raw in hl7_messages(body)]


def _result(inbound: Inbound) -> AcceptResult:
    """As the bridge's accept sees the message: rejected, accepted, or acknowledged and ignored
    (a well-formed message carrying no event: answered AA, routed nowhere; ``event`` stays
    None). A demographic update is accepted here: whether it is forwarded depends on the store."""
    try:
        event = decode(inbound)
    except MessageRejected as rejected:
        return AcceptResult(AcceptStatus.REJECTED, error=rejected)
    except MessageIgnored:
        return AcceptResult(AcceptStatus.IGNORED, message_id="filtered")
    return AcceptResult(AcceptStatus.ACCEPTED, event=event)


def _check_hl7(raw: bytes, contracts: list[Hl7Contract], context: AckContext | None) -> CheckResult:
    result = _result(Inbound(raw, HL7_V2, "contract-check", "contract-check"))
    answer = hl7_ack_for(result, raw, context)
    if result.error is not None:
        error = result.error
        return CheckResult("hl7v2", False, answer, None, None, error.reason, error.location)
    if result.event is None:
        return CheckResult("hl7v2", True, answer, None, "acknowledged, forwarded nowhere")
    event = result.event.event.value
    missing = _missing_fields(hl7_text(raw), contracts)
    return CheckResult("hl7v2", True, answer, None, event, missing=missing)


def _missing_fields(text: str, contracts: list[Hl7Contract]) -> tuple[str, ...]:
    header = peek_header(text)
    trigger = f"{header.message_type}^{header.trigger_event}" if header else ""
    return tuple(
        f"{required.field} ({required.why})"
        for contract in contracts
        if contract.trigger == trigger
        for required in contract.requires
        if not field_value(text, required.field).strip()
    )


def _check_fhir(body: bytes, base_url: str) -> CheckResult:
    result = _result(Inbound(body, FHIR_JSON, "contract-check", "contract-check"))
    status, answer = fhir_answer(result, body, base_url)
    text = orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode()
    if result.error is not None:
        error = result.error
        return CheckResult("fhir", False, text, status, None, error.reason, error.location)
    event = result.event.event.value if result.event is not None else None
    return CheckResult("fhir", True, text, status, event)


def answer_json(result: CheckResult) -> dict[str, Any]:
    """A machine-readable form of the verdict, for ``--json``."""
    return {
        "format": result.format,
        "accepted": result.accepted,
        "event": result.event,
        "reason": result.reason,
        "location": result.location,
        "status": result.status,
        "missing": list(result.missing),
        "answer": result.answer,
    }
