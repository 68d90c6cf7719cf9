"""HL7 v2 application acknowledgements (enhanced mode, MSH-16), owed to senders and sent later.

A message whose MSH-16 asks for one, from a source with a ``return_address``, gets a row in
``application_acks`` right after its accept (:meth:`ApplicationAcks.request`):

- accepted and routed: ``waiting`` until every delivery is settled: AA once each is confirmed
  (a receipt where the destination sends receipts, else the delivery), AR as soon as one fails
  for good (dead letter, discarded, negative receipt or none in time);
- filtered (routed nowhere): AA at once; rejected for its content: AE at once, with its ERR.

MSH-16 (table 0155) decides whether that code is sent at all. Due ACKs go out as ACK messages of
their own (MSH-15 ``AL``) over MLLP or HTTP POST to the source's return address and are retried
with backoff for up to a day. The work is in the database, so any bridge process may send it,
and a restart loses nothing that was committed.

The delivery side can call :meth:`ApplicationAcks.settled` when a delivery's receipt arrives or
it is dead-lettered, to send at once; otherwise :meth:`run` finds it within its interval.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from bridge.connectors.mllp_client import MllpClient, MllpError
from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.ack import AckCode, build_ack, error_code_for, parse_ack
from bridge.domain.hl7.ack_policy import AckContext, application_ack_wanted
from bridge.domain.hl7.charsets import codec_for, decode_er7_tolerant, encode_er7
from bridge.domain.hl7.header import Hl7Header, peek_header
from bridge.domain.identifiers import mask_in_text
from bridge.service.clock import Clock
from bridge.service.delivery.accept import AcceptResult, AcceptStatus
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import ApplicationAckRow, DeliveryRow

log = logging.getLogger(__name__)

WAITING, DUE, SENT, FAILED, NOT_WANTED = "waiting", "due", "sent", "failed", "not_wanted"
MAX_AGE = timedelta(days=1)
_BATCH = 100
_FAILED_DELIVERY = frozenset({"dead", "discarded"})
_FAILED_RECEIPT = frozenset({"negative", "unreceipted"})


class ApplicationAcks:
    def __init__(
        self, db: Database, context: AckContext, clock: Clock, *, timeout: float = 10.0
    ) -> None:
        self._db = db
        self._context = context
        self._clock = clock
        self._timeout = timeout
        self.wakeup = asyncio.Event()

        # Whether this process may have application ACKs waiting on deliveries. Settled
        # deliveries wake the sender only then: most senders ask for none, and a pass costs two
        # queries (the periodic pass still finds what another process recorded).
        self.maybe_waiting = True

    def use_context(self, context: AckContext) -> None:
        """Acknowledge by ``context`` from now on (a reloaded routing file)."""
        self._context = context

    async def request(self, raw: bytes, result: AcceptResult) -> None:
        """Record the application ACK a just-answered message asks for, if any. Best effort: a
        failure here is logged, never turned into a different accept answer."""
        plan = self._plan(raw, result)
        if plan is None:
            return
        row, header = plan
        try:
            async with self._db.session() as session, session.begin():
                session.add(row)
                audit.record(
                    session,
                    at=row.created_at,
                    action="application_ack_requested",
                    message_id=row.message_id,
                    condition=header.application_ack_type,
                    state=row.state,
                    code=row.code,
                )
        except (OperationalError, DBAPIError, OSError):
            log.error("could not record an application ACK request: database unavailable")
            return
        if row.state == DUE:
            self.wakeup.set()
        else:
            self.maybe_waiting = True

    def _plan(self, raw: bytes, result: AcceptResult) -> tuple[ApplicationAckRow, Hl7Header] | None:
        if result.message_id is None or result.status is AcceptStatus.DUPLICATE:
            return None
        if not _may_ask_for_application_ack(raw):
            return None  # cheap: no need to read the whole message again
        text = decode_er7_tolerant(raw).text
        header = peek_header(text)
        if header is None or not header.enhanced_mode:
            return None
        address = self._context.acknowledgements(header).return_address
        condition = (header.application_ack_type or "NE").upper()
        if address is None or condition == "NE":
            return None
        now = self._clock.now()
        row = ApplicationAckRow(
            message_id=result.message_id,
            source=self._context.source_name(header) or "",
            header=_msh_line(text),
            return_address=address,
            state=WAITING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        if result.status is AcceptStatus.ACCEPTED:
            return row, header
        if result.status is AcceptStatus.IGNORED:
            code: AckCode = "AA"
        elif result.status is AcceptStatus.REJECTED and result.error is not None:
            code = "AE"
            row.text = mask_in_text(str(result.error))
            row.location = result.error.location
            row.error_code = error_code_for(result.error)
        else:
            return None
        if not application_ack_wanted(header, code):
            return None
        row.state, row.code = DUE, code
        return row, header

    async def settled(self, message_id: str) -> None:
        """Hook for the delivery side: a delivery of ``message_id`` got its receipt or failed
        for good. Decides and sends that message's application ACK now, if it is due."""
        await self._decide(message_id)
        await self._send_due()

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.run_once()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("application ACKs: database unavailable (%s)", type(error).__name__)
            try:
                async with asyncio.timeout(interval):
                    await self.wakeup.wait()
            except TimeoutError:
                pass
            self.wakeup.clear()

    async def run_once(self) -> int:
        """Decide waiting ACKs whose deliveries settled, send the due ones; how many were sent."""
        async with self._db.session() as session:
            waiting = (
                await session.scalars(
                    select(ApplicationAckRow.message_id)
                    .where(ApplicationAckRow.state == WAITING)
                    .order_by(ApplicationAckRow.id)
                    .limit(_BATCH)
                )
            ).all()
        self.maybe_waiting = bool(waiting)
        for message_id in waiting:
            await self._decide(message_id)
        return await self._send_due()

    async def _decide(self, message_id: str) -> None:
        async with self._db.session() as session, session.begin():
            row = await session.scalar(
                select(ApplicationAckRow).where(
                    ApplicationAckRow.message_id == message_id, ApplicationAckRow.state == WAITING
                )
            )
            if row is None:
                return
            deliveries = (
                await session.scalars(
                    select(DeliveryRow).where(DeliveryRow.message_id == message_id)
                )
            ).all()
            verdict = _deliveries_verdict(list(deliveries))
            if verdict is None:
                return
            code, text = verdict
            header = peek_header(row.header)
            now = self._clock.now()
            row.code, row.text = code, text
            row.error_code = "207" if code != "AA" else None
            row.state = DUE if application_ack_wanted(header, code) else NOT_WANTED
            row.next_attempt_at = now
            audit.record(
                session,
                at=now,
                action="application_ack_decided",
                message_id=message_id,
                code=code,
                state=row.state,
            )

    async def _send_due(self) -> int:
        now = self._clock.now()
        async with self._db.session() as session:
            due = (
                await session.scalars(
                    select(ApplicationAckRow)
                    .where(ApplicationAckRow.state == DUE, ApplicationAckRow.next_attempt_at <= now)
                    .order_by(ApplicationAckRow.id)
                    .limit(_BATCH)
                )
            ).all()
        sent = 0
        for row in due:
            if await self._claim(row, now):
                sent += await self._send(row)
        return sent

    async def _claim(self, row: ApplicationAckRow, now: datetime) -> bool:
        """Take the row for this process: move its next attempt past the send timeout, only if
        no other process did so first."""
        lease = now + timedelta(seconds=self._timeout * 3)
        async with self._db.session() as session, session.begin():
            claimed = await session.execute(
                update(ApplicationAckRow)
                .where(
                    ApplicationAckRow.id == row.id,
                    ApplicationAckRow.state == DUE,
                    ApplicationAckRow.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=lease)
            )
        return bool(getattr(claimed, "rowcount", 0))

    async def _send(self, row: ApplicationAckRow) -> int:
        header = peek_header(row.header)
        code: AckCode = row.code if row.code in ("AA", "AE", "AR") else "AR"  # type: ignore[assignment]
        control_id = f"BRIDGE-{uuid.uuid4().hex[:16]}"
        text = build_ack(
            header,
            code,
            row.text or "",
            row.location,
            control_id=control_id,
            error_code=row.error_code,
            identity=self._context.identity,
            ack_types=("AL", "NE"),
        )
        body = encode_er7(text, codec_for(header.charset if header else ""))
        error = await self._deliver(row.return_address, body, control_id)
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            stored = await session.get(ApplicationAckRow, row.id)
            if stored is None:
                return 0
            stored.attempts += 1
            if error is None:
                stored.state, stored.sent_at, stored.last_error = SENT, now, None
            else:
                stored.last_error = error
                gave_up = now - stored.created_at > MAX_AGE
                stored.state = FAILED if gave_up else DUE
                stored.next_attempt_at = now + _backoff(stored.attempts)
            audit.record(
                session,
                at=now,
                action="application_ack_sent" if error is None else "application_ack_failed",
                message_id=row.message_id,
                code=code,
                to=row.return_address,
                error=error,
            )
        return 1 if error is None else 0

    async def _deliver(self, address: str, body: bytes, control_id: str) -> str | None:
        """Send one application ACK; None when the sender committed it, else why not."""
        try:
            if address.startswith(("mllp:", "tcp:")):
                reply = await self._send_mllp(address, body)
            else:
                reply = await self._send_http(address, body)
        except (MllpError, httpx.HTTPError, OSError) as failure:
            return f"{type(failure).__name__}: {failure}"[:500]
        if not reply.strip():
            return None  # the sender asked for no answer, or HTTP 2xx with an empty body
        try:
            answer = parse_ack(decode_er7_tolerant(reply).text)
        except MessageRejected as unreadable:
            return f"unreadable answer: {unreadable.reason}"
        if answer.code in ("AA", "CA") and answer.control_id == control_id:
            return None
        return f"answered {answer.code} for {answer.control_id!r}: {mask_in_text(answer.text)}"

    async def _send_mllp(self, address: str, body: bytes) -> bytes:
        host_port = address.split("://", 1)[1].strip("/")
        host, _, port = host_port.rpartition(":")
        client = MllpClient(host, int(port), timeout=self._timeout)
        try:
            return await client.send(body)
        finally:
            await client.close()

    async def _send_http(self, address: str, body: bytes) -> bytes:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(
                address, content=body, headers={"Content-Type": "application/hl7-v2"}
            )
        response.raise_for_status()
        return response.content


def _deliveries_verdict(deliveries: list[DeliveryRow]) -> tuple[AckCode, str] | None:
    """AA when every delivery is confirmed, AR when one failed for good, None while pending."""
    for delivery in deliveries:
        if delivery.status in _FAILED_DELIVERY or delivery.receipt_state in _FAILED_RECEIPT:
            why = delivery.dead_reason or delivery.receipt_state or delivery.status
            return "AR", f"delivery to {delivery.destination} failed for good: {why}"
    confirmed = all(
        d.status == "delivered" and d.receipt_state in (None, "received") for d in deliveries
    )
    return ("AA", "") if confirmed else None


def _msh_line(text: str) -> str:
    for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        stripped = line.strip().lstrip("\ufeff\x0b")
        if stripped.startswith("MSH"):
            return stripped[:4096]
    return ""


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300.0, 2.0 ** min(attempts, 9)))


def _may_ask_for_application_ack(raw: bytes) -> bool:
    """False only when the first MSH line surely asks for no application ACK (MSH-16 empty or
    NE).

    Read from the bytes (every HL7 character set keeps ASCII, and so the field separator and
    segment ends, as they are); anything unusual says True and gets the full reading.
    """
    start = raw.find(b"MSH")
    if start < 0 or len(raw) < start + 4:
        return True
    end = len(raw)
    for terminator in (b"\r", b"\n"):
        found = raw.find(terminator, start)
        if found >= 0:
            end = min(end, found)
    separator = raw[start + 3 : start + 4]
    fields = raw[start:end].split(separator)
    if len(fields) < 16:
        return False
    return fields[15].strip().upper() not in (b"", b"NE")
