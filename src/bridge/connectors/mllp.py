"""Deliver HL7 v2 over MLLP: one persistent connection per receiver, the ACK decides the outcome.

Transport failures (no connection, no reply in time, a broken frame) are transient: the
receiver may not have the message, and the stable MSH-10 lets it drop a repeat. The ACK is
classified by :mod:`bridge.connectors.hl7_ack`. After any transient answer (AE/CE, an ACK that
names another message, an unreadable one) the connection is dropped and the next send starts on a
fresh one, so a stray reply can never be taken for the next message's. One message is in flight
per receiver at a time (MLLP has no way to match replies otherwise).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bridge.connectors.hl7_ack import classify_ack, control_id_of, reply_text
from bridge.connectors.mllp_client import MllpClient, MllpError
from bridge.connectors.port import OutboundMessage, Outcome, SendResult


@dataclass
class _Line:
    client: MllpClient
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MllpConnector:
    """The ``mllp`` transport: sends each message to its destination's ``mllp://host:port``."""

    def __init__(self, timeout: float = 10.0, connect_timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._connect_timeout = min(connect_timeout, timeout)
        self._lines: dict[tuple[str, int], _Line] = {}

    async def send(self, message: OutboundMessage) -> SendResult:
        control_id = control_id_of(message.body)
        if not control_id:
            return SendResult(Outcome.PERMANENT, error="the payload has no MSH-10 to acknowledge")
        line = self._line(message.destination.mllp_endpoint)
        async with line.lock:
            try:
                reply = await line.client.send(message.body)
            except MllpError as failure:
                outcome = Outcome.TRANSIENT if failure.transient else Outcome.PERMANENT
                return SendResult(outcome, error=str(failure))
            result = classify_ack(
                reply_text(reply), control_id, convention=message.destination.ack_convention
            )
            if result.outcome is Outcome.TRANSIENT:
                await line.client.close()
            return result

    def _line(self, endpoint: tuple[str, int]) -> _Line:
        line = self._lines.get(endpoint)
        if line is None:
            host, port = endpoint
            client = MllpClient(
                host, port, timeout=self._timeout, connect_timeout=self._connect_timeout
            )
            line = self._lines[endpoint] = _Line(client)
        return line

    async def close(self) -> None:
        lines, self._lines = list(self._lines.values()), {}
        for line in lines:
            async with line.lock:
                await line.client.close()
