"""Turn an accept result into the answer each protocol expects (HL7 ACK, FHIR response).

HL7 v2 follows chapter 2's processing rules (:mod:`bridge.domain.hl7.ack_policy`); the table of
every answer is docs/hl7-conformance.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.domain.fhir.decode import request_header_id
from bridge.domain.fhir.outcome import operation_outcome, response_bundle
from bridge.domain.hl7.ack import AckCode, AckIdentity, build_ack, error_code_for
from bridge.domain.hl7.ack_policy import (
    AckContext,
    Convention,
    Verdict,
    accept_ack_wanted,
    accept_code,
    application_ack_wanted,
    verdict_of_rejection,
)
from bridge.domain.hl7.charsets import decode_er7_tolerant, encode_er7
from bridge.domain.hl7.header import Hl7Header, peek_header
from bridge.domain.model import EventCode
from bridge.domain.sender_identity import FORBIDDEN
from bridge.service.delivery.accept import AcceptResult, AcceptStatus

UNAVAILABLE_TEXT = "the bridge cannot store the message right now; send it again later"


@dataclass(frozen=True)
class Hl7Reply:
    """The accept answer: its code, its text, and its bytes in the sender's character set.

    ``send`` is False when MSH-15 asks for no answer of this kind (NE, or ER/SU not met): the
    entrypoint then writes nothing (MLLP) or an empty body (HTTP).
    """

    code: AckCode
    text: str
    body: bytes
    send: bool


def hl7_reply(result: AcceptResult, raw: bytes, context: AckContext | None = None) -> Hl7Reply:
    """The answer to one HL7 v2 message, per its MSH-15/16 and its source's convention."""
    context = context or AckContext()
    decoded = decode_er7_tolerant(raw)
    header = peek_header(decoded.text)
    settings = context.acknowledgements(header)
    convention = Convention(settings.convention.value)
    verdict = verdict_of(result)
    code = accept_code(
        header,
        verdict,
        convention,
        application_ack_possible=(
            settings.return_address is not None
            and result.message_id is not None
            and application_ack_wanted(header, "AE")
        ),
    )
    text = _ack_text(result, header, code, verdict, context.identity)
    return Hl7Reply(
        code, text, encode_er7(text, decoded.codec), accept_ack_wanted(header, code, convention)
    )


def hl7_ack_for(result: AcceptResult, body: bytes, context: AckContext | None = None) -> str:
    """The text of the answer, whether or not MSH-15 asks for it to be sent."""
    return hl7_reply(result, body, context).text


def verdict_of(result: AcceptResult) -> Verdict:
    if result.ok:
        return Verdict.COMMITTED
    if result.status is AcceptStatus.REJECTED and result.error is not None:
        return verdict_of_rejection(result.error)
    return Verdict.UNAVAILABLE


def _ack_text(
    result: AcceptResult,
    header: Hl7Header | None,
    code: AckCode,
    verdict: Verdict,
    identity: AckIdentity,
) -> str:
    if code in ("AA", "CA"):
        return build_ack(header, code, identity=identity)
    error = result.error
    if verdict is Verdict.UNAVAILABLE or error is None:
        return build_ack(header, code, UNAVAILABLE_TEXT, error_code="207", identity=identity)
    return build_ack(
        header,
        code,
        str(error),
        error.location,
        error_code=error_code_for(error),
        identity=identity,
    )


def unavailable_reply(raw: bytes, context: AckContext | None = None) -> bytes:
    """For a failure the bridge did not foresee: the message was not committed, resend later."""
    result = AcceptResult(AcceptStatus.UNAVAILABLE)
    return hl7_reply(result, raw, context).body


_JSON_TYPES = ("application/fhir+json", "application/json")
_ACCEPTABLE = ("*/*", "application/*", *_JSON_TYPES)


def fhir_request_problem(
    content_type: str | None, accept: str | None, async_flag: str | None
) -> tuple[int, dict[str, Any]] | None:
    """Why ``$process-message`` refuses a request before reading it: a body that is not FHIR
    JSON (415), an answer format the bridge cannot give (406), asynchronous processing asked
    for (400: the bridge answers synchronously, in this response); None when it may proceed."""
    media = (content_type or "application/fhir+json").split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        reason = (
            f"content type {media!r} is not supported: send the Bundle as application/fhir+json"
            + (" (FHIR XML is not read)" if "xml" in media else "")
        )
        return 415, operation_outcome(reason, None, "not-supported")
    if accept and not any(
        kind.split(";")[0].strip().lower() in _ACCEPTABLE for kind in accept.split(",")
    ):
        reason = f"cannot answer in {accept[:100]!r}: the answer is application/fhir+json"
        return 406, operation_outcome(reason, None, "not-supported")
    if (async_flag or "").strip().lower() == "true":
        reason = (
            "asynchronous processing (async=true) is not supported: send without it and the "
            "response message comes back in this HTTP response"
        )
        return 400, operation_outcome(reason, "Parameters.async", "not-supported")
    return None


def fhir_answer(result: AcceptResult, body: bytes, base_url: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for ``$process-message``: a response Bundle or an OperationOutcome."""
    if result.status is AcceptStatus.REJECTED and result.error is not None:
        status = 403 if result.error.code == FORBIDDEN else 400
        return status, operation_outcome(
            result.error.reason, result.error.location, result.error.code
        )
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


__all__ = [
    "UNAVAILABLE_TEXT",
    "Hl7Reply",
    "fhir_answer",
    "fhir_request_problem",
    "hl7_ack_for",
    "hl7_reply",
    "unavailable_reply",
    "verdict_of",
]
