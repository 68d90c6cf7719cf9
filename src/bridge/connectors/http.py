"""Deliver over HTTP: FHIR messaging (``[base]/$process-message``) or HL7 v2 over HTTP.

The status decides first (2xx delivered, 408/425/429/5xx transient, other 4xx permanent); a 2xx
answer is then read: a FHIR response may still say transient-error / fatal-error, and HL7 v2 over
HTTP answers with the ACK, which decides like over MLLP (:mod:`bridge.connectors.hl7_ack`).
"""

from __future__ import annotations

import httpx

from bridge.connectors.hl7_ack import classify_ack, control_id_of
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.outcome import parse_response
from bridge.domain.routing import PayloadFormat

_TRANSIENT_STATUS = frozenset({408, 425, 429})


def classify_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in _TRANSIENT_STATUS or status >= 500:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def _fhir_response_outcome(body: bytes) -> tuple[Outcome, str | None]:
    """A 2xx FHIR answer may still say transient-error / fatal-error in MessageHeader.response.

    An empty or unreadable 2xx body counts as delivered: HTTP said so, and receipts (not this
    answer) are what prove the notice reached the worklist.
    """
    if not body.strip():
        return Outcome.DELIVERED, None
    try:
        code, text = parse_response(body)
    except MessageRejected:
        return Outcome.DELIVERED, None
    if code == "transient-error":
        return Outcome.TRANSIENT, f"receiver answered transient-error: {text}"
    if code == "fatal-error":
        return Outcome.PERMANENT, f"receiver answered fatal-error: {text}"
    return Outcome.DELIVERED, None


class HttpConnector:
    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        destination = message.destination
        url = destination.address.rstrip("/")
        if destination.format is PayloadFormat.FHIR and not url.endswith("$process-message"):
            url += "/$process-message"
        headers = {
            "Content-Type": message.content_type,
            "Idempotency-Key": message.idempotency_key,
            "X-Correlation-ID": message.correlation_id,
        }
        try:
            response = await self._client.post(url, content=message.body.encode(), headers=headers)
        except httpx.TimeoutException as timeout:
            return SendResult(Outcome.TRANSIENT, error=f"timeout: {type(timeout).__name__}")
        except httpx.TransportError as failure:
            return SendResult(
                Outcome.TRANSIENT, error=f"connection error: {type(failure).__name__}"
            )
        outcome = classify_status(response.status_code)
        reason = None if outcome is Outcome.DELIVERED else f"HTTP {response.status_code}"
        if outcome is Outcome.DELIVERED and destination.format is PayloadFormat.HL7V2:
            return classify_ack(
                response.text,
                control_id_of(message.body),
                status_code=response.status_code,
                convention=destination.ack_convention,
            )
        if outcome is Outcome.DELIVERED and destination.format is PayloadFormat.FHIR:
            outcome, reason = _fhir_response_outcome(response.content)
        return SendResult(outcome, status_code=response.status_code, error=reason)

    async def close(self) -> None:
        await self._client.aclose()
