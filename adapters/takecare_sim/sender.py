"""Sending admissions to the bridge at a chosen rate and recording what came back.

Whole episodes (admission to discharge, with cancellations) are sent by
:mod:`takecare_sim.episode_sender` through the same :func:`send_message`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bridge.domain.identifiers import mask
from takecare_sim.ack import AckUnreadableError, parse_ack
from takecare_sim.credentials import ClientCredentials
from takecare_sim.er7 import STOCKHOLM, control_ids
from takecare_sim.http_transport import HttpHl7Client
from takecare_sim.masking import logger
from takecare_sim.messages import Sender, build_admission
from takecare_sim.mllp import MllpClient
from takecare_sim.patients import Admission, AdmissionGenerator
from takecare_sim.transport import AckingTransport, TransportError

Transport = Literal["mllp", "http"]
_log = logger()


@dataclass(frozen=True)
class SentNotice:
    """One admission message sent: its MSH-10, the patient, and the bridge's answer.

    ``ack_code`` is MSA-1 (AA/AE/AR, or CA/CE/CR); None when no readable ACK for this message
    came back, and then ``error`` says why. ``latency_s``: from sending to the ACK or failure.
    """

    control_id: str
    patient_identifier: str
    sent_at: datetime
    ack_code: str | None
    latency_s: float
    ack_text: str = ""
    error: str | None = None
    event: str = "A01"


@dataclass(frozen=True)
class SendOptions:
    """Where and how to send; ``http_url`` defaults to ``http://{host}:{port}/hl7v2``."""

    host: str = "127.0.0.1"
    port: int = 2575
    transport: Transport = "mllp"
    http_url: str | None = None
    ack_timeout_s: float = 10.0
    sender: Sender = field(default_factory=Sender)
    credentials: ClientCredentials = field(default_factory=ClientCredentials)

    def connect(self) -> AckingTransport:
        if self.transport == "http":
            scheme = "https" if self.credentials.tls else "http"
            url = self.http_url or f"{scheme}://{self.host}:{self.port}/hl7v2"
            return HttpHl7Client(url, self.ack_timeout_s, self.credentials)
        tls = self.credentials.ssl_context()
        return MllpClient(self.host, self.port, timeout=self.ack_timeout_s, tls=tls)


async def send_one(
    transport: AckingTransport, admission: Admission, control_id: str, sender: Sender
) -> SentNotice:
    """Send one admission and wait for its ACK; failures are recorded, not raised."""
    sent_at = datetime.now(STOCKHOLM)
    message = build_admission(admission, control_id, sent_at, sender)
    return await send_message(transport, message, control_id, admission, sent_at, "A01")


async def send_message(
    transport: AckingTransport,
    message: str,
    control_id: str,
    admission: Admission,
    sent_at: datetime,
    event: str,
) -> SentNotice:
    """Send one ER7 message about ``admission``'s patient and wait for its ACK."""
    started = time.perf_counter()
    code, text, error = None, "", None
    try:
        ack = parse_ack(await transport.send(message))
        code, text = ack.code, ack.text
        if ack.control_id != control_id:
            code, error = None, f"ACK names message {ack.control_id!r}, not {control_id!r}"
    except (TransportError, AckUnreadableError) as failure:
        error = str(failure)
    latency = time.perf_counter() - started
    identifier = admission.patient.identifier
    _log.info("sent %s %s for %s: %s", event, control_id, mask(identifier), code or error)
    return SentNotice(control_id, identifier, sent_at, code, latency, text, error, event)


async def run(
    options: SendOptions | None = None,
    rate_per_s: float | None = 1.0,
    seed: int | None = None,
    count: int | None = None,
    on_sent: Callable[[SentNotice], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Send admissions at ``rate_per_s`` (None or 0: as fast as ACKs come) until ``count``
    are sent, or forever when ``count`` is None, until ``stop`` is set (a message being sent
    then still gets its ACK, so none is left unanswered) or the task is cancelled. Returns how
    many were sent. Messages go one at a time over one connection, each awaiting its ACK.
    """
    options = options or SendOptions()
    admissions, ids = AdmissionGenerator(seed), control_ids()
    transport = options.connect()
    loop = asyncio.get_running_loop()
    started, sent = loop.time(), 0
    stop = stop or asyncio.Event()
    try:
        while (count is None or sent < count) and not stop.is_set():
            if rate_per_s:
                pause = max(0.0, started + sent / rate_per_s - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                if stop.is_set():
                    break
            notice = await send_one(transport, next(admissions), next(ids), options.sender)
            sent += 1
            if on_sent is not None:
                on_sent(notice)
    finally:
        await transport.aclose()
    return sent


async def send_admissions(
    host: str = "127.0.0.1",
    port: int = 2575,
    count: int = 10,
    rate_per_s: float | None = None,
    seed: int | None = None,
    transport: Transport = "mllp",
    http_url: str | None = None,
    ack_timeout_s: float = 10.0,
    sender: Sender | None = None,
    credentials: ClientCredentials | None = None,
) -> list[SentNotice]:
    """Send ``count`` admissions of distinct synthetic patients; one record per message."""
    options = SendOptions(
        host,
        port,
        transport,
        http_url,
        ack_timeout_s,
        sender or Sender(),
        credentials or ClientCredentials(),
    )
    notices: list[SentNotice] = []
    await run(options, rate_per_s, seed, count, notices.append)
    return notices
