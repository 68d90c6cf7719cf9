"""Accept: decode an inbound message and commit it, its routing and its outbox rows at once.

The sender is told "accepted" only after this transaction commits (guarantee 1). A repeat of a
message already accepted (same sending facility + message id) is acknowledged again and
delivered once (guarantee 2).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.hl7.charsets import decode_er7, decode_er7_tolerant
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.er7 import split_batch
from bridge.domain.model import CareTransitionEvent, EventCode
from bridge.domain.routing import RoutingTable
from bridge.service import audit, episodes, message_outcomes
from bridge.service.clock import Clock
from bridge.service.outbound import FHIR_JSON, HL7_V2, OutboundEncoder
from bridge.service.outbox import OutboxEntry, add_to_outbox
from bridge.service.patient_key import patient_key
from bridge.service.receipts import receipt_of, record_receipt
from bridge.store.db import Database
from bridge.store.tables import InboundSeenRow, MessageRow

log = logging.getLogger(__name__)

_ACCEPT_TRIES = 5


class AcceptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Inbound:
    """Raw bytes as an entrypoint received them."""

    body: bytes
    content_type: str
    entrypoint: str
    correlation_id: str
    source: str = "takecare"
    transport_id: str | None = None


@dataclass(frozen=True)
class AcceptResult:
    status: AcceptStatus
    message_id: str | None = None
    event: CareTransitionEvent | None = None
    error: MessageRejected | None = None
    destinations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in (AcceptStatus.ACCEPTED, AcceptStatus.DUPLICATE, AcceptStatus.IGNORED)


def decode(inbound: Inbound) -> CareTransitionEvent:
    """Decode by content type; raises :class:`MessageRejected` for anything unacceptable."""
    if inbound.content_type == FHIR_JSON:
        return decode_message_bundle(inbound.body)
    if inbound.content_type == HL7_V2:
        return decode_hl7(decode_er7(inbound.body).text)
    raise MessageRejected(f"unsupported content type {inbound.content_type!r}", "content_type")


def hl7_text(body: bytes) -> str:
    """The text of an HL7 v2 message, read by its MSH-18 character set; never raises (without
    a usable MSH-18: UTF-8, else ISO 8859-1; domain/hl7/charsets.py)."""
    return decode_er7_tolerant(body).text


def hl7_messages(body: bytes) -> list[bytes]:
    """One message, or each message of an FHS/BHS batch file (a broken batch: its ACK says so).

    Each message goes on in the character set the batch was read in, so its MSH-18 stays true.
    """
    decoded = decode_er7_tolerant(body)
    if not decoded.text.lstrip("\ufeff \r\n").startswith(("FHS", "BHS")):
        return [body]
    try:
        return [message.encode(decoded.codec, "replace") for message in split_batch(decoded.text)]
    except MessageRejected:
        return [body]


class Acceptor:
    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        encoder: OutboundEncoder,
        clock: Clock,
        patient_key_secret: str,
    ) -> None:
        self._db = db
        self._routing = routing
        self._encoder = encoder
        self._clock = clock
        self._secret = patient_key_secret

    async def accept(self, inbound: Inbound) -> AcceptResult:
        try:
            event = decode(inbound)
        except MessageRejected as rejected:
            recorded = await self._audit_rejection(inbound, rejected)
            return AcceptResult(AcceptStatus.REJECTED, message_id=recorded, error=rejected)
        except MessageIgnored as ignored:
            recorded = await self._audit_ignored(inbound, ignored)
            if recorded is None:
                # Not stored, so not findable: the sender must send it again (issue 11).
                return AcceptResult(AcceptStatus.UNAVAILABLE)
            return AcceptResult(AcceptStatus.IGNORED, message_id=recorded)
        # The routing file's sources say who sent it (sending facility/application); a message
        # none of them claims keeps the entrypoint's default source.
        inbound = replace(inbound, source=self._routing.source_of(event.origin) or inbound.source)
        # A receipt confirms a notice the bridge sent; it is recorded, never routed onward.
        destinations = (
            [] if event.event is EventCode.RECEIPT else self._routing.route(event, inbound.source)
        )
        for attempt in range(_ACCEPT_TRIES):
            try:
                return await self._commit(inbound, event, [d.name for d in destinations])
            except IntegrityError:
                # A concurrent accept took the same dedupe key or per-patient sequence number:
                # run again; the second run sees the other transaction's rows.
                log.info("accept conflict, retrying (try %d)", attempt + 1)
            except (OperationalError, DBAPIError, OSError) as error:
                log.error("database unavailable, message not accepted: %s", type(error).__name__)
                return AcceptResult(AcceptStatus.UNAVAILABLE, event=event)
        return AcceptResult(AcceptStatus.UNAVAILABLE, event=event)

    async def _commit(
        self, inbound: Inbound, event: CareTransitionEvent, destinations: list[str]
    ) -> AcceptResult:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            existing = await self._seen_transport_id(session, inbound) or await session.scalar(
                select(MessageRow.id).where(MessageRow.dedupe_key == event.dedupe_key)
            )
            if existing is not None:
                audit.record(
                    session,
                    at=now,
                    action="duplicate",
                    message_id=existing,
                    entrypoint=inbound.entrypoint,
                    correlation_id=inbound.correlation_id,
                )
                await self._remember_transport_id(session, inbound, existing)
                return AcceptResult(AcceptStatus.DUPLICATE, message_id=existing, event=event)
            message_id = str(uuid.uuid4())
            key, masked, protected = self._patient_columns(event)
            session.add(
                MessageRow(
                    id=message_id,
                    dedupe_key=event.dedupe_key,
                    source=inbound.source,
                    entrypoint=inbound.entrypoint,
                    content_type=inbound.content_type,
                    event_code=event.event.value,
                    patient_key=key,
                    patient_masked=masked,
                    protected=protected,
                    payload=hl7_text(inbound.body),
                    canonical=event.model_dump_json(),
                    correlation_id=inbound.correlation_id,
                    received_at=now,
                )
            )
            audit.record(
                session,
                at=now,
                action="accepted",
                message_id=message_id,
                event=event.event.value,
                entrypoint=inbound.entrypoint,
                dedupe_key=event.dedupe_key,
                patient=masked,
                correlation_id=inbound.correlation_id,
            )
            audit.record(
                session, at=now, action="routed", message_id=message_id, destinations=destinations
            )
            await session.flush()
            for name in destinations:
                await self._add_delivery(session, event, message_id, key, name)
            await self._record_receipt(session, event, message_id)
            await episodes.track(session, event, message_id, key, inbound.source, now)
            await self._remember_transport_id(session, inbound, message_id)
        return AcceptResult(
            AcceptStatus.ACCEPTED,
            message_id=message_id,
            event=event,
            destinations=tuple(destinations),
        )

    async def _add_delivery(
        self,
        session: AsyncSession,
        event: CareTransitionEvent,
        message_id: str,
        key: str,
        destination_name: str,
    ) -> None:
        now = self._clock.now()
        delivery_id = str(uuid.uuid4())
        idempotency_key = str(uuid.uuid4())
        payload = self._encoder.encode(
            event,
            self._routing.destination(destination_name),
            delivery_id=delivery_id,
            idempotency_key=idempotency_key,
            now=now,
        )
        entry = OutboxEntry(
            delivery_id=delivery_id,
            idempotency_key=idempotency_key,
            message_id=message_id,
            destination=destination_name,
            patient_key=key,
            content_type=payload.content_type,
            body=payload.body,
            header_id=payload.header_id,
        )
        await add_to_outbox(session, entry, now)

    def _patient_columns(self, event: CareTransitionEvent) -> tuple[str, str, bool]:
        """Pseudonymous key, masked identifier, protected flag; a receipt names no patient."""
        if event.patient is None:
            return "", "-", False
        identifier = event.patient.primary_identifier
        return patient_key(identifier, self._secret), identifier.masked, event.patient.is_protected

    async def _record_receipt(
        self, session: AsyncSession, event: CareTransitionEvent, message_id: str
    ) -> None:
        receipt = receipt_of(event)
        if receipt is None:
            return
        responds_to, code = receipt
        await record_receipt(
            session,
            at=self._clock.now(),
            receipt_message_id=message_id,
            responds_to=responds_to,
            code=code,
        )

    async def _seen_transport_id(self, session: AsyncSession, inbound: Inbound) -> str | None:
        """The message an AMQP message_id was already accepted as, if any."""
        if inbound.transport_id is None:
            return None
        return await session.scalar(
            select(InboundSeenRow.message_id).where(
                InboundSeenRow.channel == inbound.entrypoint,
                InboundSeenRow.transport_id == inbound.transport_id,
            )
        )

    async def _remember_transport_id(
        self, session: AsyncSession, inbound: Inbound, message_id: str
    ) -> None:
        if inbound.transport_id is None:
            return
        seen = await session.scalar(
            select(InboundSeenRow.id).where(
                InboundSeenRow.channel == inbound.entrypoint,
                InboundSeenRow.transport_id == inbound.transport_id,
            )
        )
        if seen is None:
            session.add(
                InboundSeenRow(
                    channel=inbound.entrypoint,
                    transport_id=inbound.transport_id,
                    message_id=message_id,
                )
            )

    async def _audit_ignored(self, inbound: Inbound, ignored: MessageIgnored) -> str | None:
        """Well-formed traffic with no care-transition event in it: stored as filtered (findable
        with the rule that filtered it), answered AA, routed nowhere. None: not stored."""
        log.info("message filtered via %s: %s", inbound.entrypoint, ignored.reason)
        try:
            async with self._db.session() as session, session.begin():
                now = self._clock.now()
                outcome_id = message_outcomes.record_filtered(
                    session, _answered(inbound), ignored, now
                )
                audit.record(
                    session,
                    at=now,
                    action="ignored",
                    message_id=outcome_id,
                    entrypoint=inbound.entrypoint,
                    source=inbound.source,
                    reason=ignored.reason,
                    rule=message_outcomes.A08_RULE,
                    correlation_id=inbound.correlation_id,
                    size=len(inbound.body),
                )
        except (OperationalError, DBAPIError, OSError):
            log.error("could not store a filtered message: database unavailable")
            return None
        return outcome_id

    async def _audit_rejection(self, inbound: Inbound, rejected: MessageRejected) -> str | None:
        """Stored (masked) for operators when the database allows; the rejection is answered
        whether or not the row lands. None: not stored."""
        log.warning(
            "message rejected via %s: %s",
            inbound.entrypoint,
            rejected,
            extra={"size": len(inbound.body)},
        )
        try:
            async with self._db.session() as session, session.begin():
                now = self._clock.now()
                outcome_id = message_outcomes.record_rejected(
                    session, _answered(inbound), rejected, now
                )
                audit.record(
                    session,
                    at=now,
                    action="rejected",
                    message_id=outcome_id,
                    entrypoint=inbound.entrypoint,
                    source=inbound.source,
                    reason=rejected.reason,
                    location=rejected.location,
                    correlation_id=inbound.correlation_id,
                    size=len(inbound.body),
                )
        except (OperationalError, DBAPIError, OSError):
            log.error("could not store a rejection: database unavailable")
            return None
        return outcome_id


def _answered(inbound: Inbound) -> message_outcomes.Answered:
    return message_outcomes.Answered(
        inbound.source,
        inbound.entrypoint,
        inbound.content_type,
        inbound.correlation_id,
        inbound.body,
    )
