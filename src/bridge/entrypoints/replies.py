"""Turn an accept result into the answer each protocol expects (HL7 ACK, FHIR response)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.domain.fhir.decode import request_header_id
from bridge.domain.fhir.outcome import operation_outcome, response_bundle
from bridge.domain.hl7.ack import ack_for_rejection, build_ack
from bridge.domain.hl7.header import peek_header
from bridge.domain.model import EventCode
from bridge.service.delivery.accept import AcceptResult, AcceptStatus, hl7_text

UNAVAILABLE_TEXT = "the bridge cannot store the message right now; send it again later"


def hl7_ack_for(result: AcceptResult, body: bytes) -> str:
    """AA only after commit; AR naming the field; AE when the bridge cannot store the message.

    A sender asking for enhanced acknowledgement (MSH-15/16 set) gets the accept ACK CA/CE/CR.
    """
    header = peek_header(hl7_text(body))
    enhanced = header is not None and header.enhanced_mode
    if result.ok:
        return build_ack(header, "CA" if enhanced else "AA")
    if result.status is AcceptStatus.REJECTED and result.error is not None:
        return ack_for_rejection(header, result.error, code="CR" if enhanced else "AR")
    return build_ack(header, "CE" if enhanced else "AE", text=UNAVAILABLE_TEXT, error_code="207")


def fhir_answer(result: AcceptResult, body: bytes, base_url: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for ``$process-message``: a response Bundle or an OperationOutcome."""
    if result.status is AcceptStatus.REJECTED and result.error is not None:
        return 400, operation_outcome(result.error.reason, result.error.location, result.error.code)
    if not result.ok:
        return 503, operation_outcome(UNAVAILABLE_TEXT, None, "transient")
    request_id = request_header_id(body) or "unknown"
    bundle = response_bundle(
        request_id,
        "ok",
        source_endpoint=f"{base_url}/fhir",
        now=datetime.now(UTC),
        event=result.event.event if result.event is not None else EventCode.RECEIPT,
    )
    return 200, bundle
