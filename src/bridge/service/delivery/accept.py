"""Accept: decode an inbound message and commit it, its routing and its outbox rows at once.

The sender is told "accepted" only after this transaction commits (guarantee 1). A repeat of a
message already accepted (same sending facility + message id) is acknowledged again and
delivered once (guarantee 2).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.field_limits import check_field_lengths
from bridge.domain.hl7.charsets import decode_er7, decode_er7_tolerant
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.er7 import split_batch
from bridge.domain.model import CareTransitionEvent, EventCode
from bridge.domain.orders import OrderDeadlinePolicy
from bridge.domain.routing import RoutingTable
from bridge.domain.sender_identity import PeerIdentity, sender_refusal
from bridge.service.care import episodes, orders
from bridge.service.care.demographics import read_demographics
from bridge.service.clock import Clock
from bridge.service.delivery.group_commit import GroupCommit
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2, OutboundEncoder
from bridge.service.delivery.outbox import OutboxEntry, add_many_to_outbox
from bridge.service.delivery.receipts import receipt_of, record_receipt
from bridge.service.delivery.restrictions import (
    flag_unrecognised_restriction,
    unrecognised_restriction,
)
from bridge.service.operations import audit, message_outcomes
from bridge.service.patient_key import patient_key
from bridge.store.db import Database, core
from bridge.store.tables import InboundSeenRow, MessageRow, table_of

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
    sender: PeerIdentity | None = None
    """The authenticated peer; None where ingestion is left open (embedded demo)."""


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
        event = decode_message_bundle(inbound.body)
        check_field_lengths(event, fhir=True)
        return event
    if inbound.content_type == HL7_V2:
        event = decode_hl7(decode_er7(inbound.body).text)
        check_field_lengths(event, fhir=False)
        return event
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


@dataclass(frozen=True)
class _Decoded:
    """A decoded, routed message waiting for its group commit."""

    inbound: Inbound
    event: CareTransitionEvent
    destinations: tuple[str, ...]


class Acceptor:
    """Decode and route each message on its own; commit concurrent messages together.

    Decoding, routing and encoding are pure and run in the caller's task. The writes go
    through :class:`~bridge.service.delivery.group_commit.GroupCommit`: every message waiting
    when the previous commit finished is written in one transaction (one audit-chain append,
    one fsync) and each caller is answered after that commit.
    """

    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        encoder: OutboundEncoder,
        clock: Clock,
        patient_key_secret: str,
        *,
        max_batch: int = 64,
        order_policy: OrderDeadlinePolicy | None = None,
    ) -> None:
        self._db = db
        self._order_policy = order_policy or OrderDeadlinePolicy()
        self._routing = routing
        self._encoder = encoder
        self._clock = clock
        self._secret = patient_key_secret
        self.group: GroupCommit[_Decoded, AcceptResult] = GroupCommit(
            self._write_batch, max_batch=max_batch
        )

    def use_routing(self, routing: RoutingTable) -> None:
        """Route from now on by ``routing`` (a reloaded routing file)."""
        self._routing = routing

    async def close(self) -> None:
        await self.group.close()

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
        claimed = self._routing.source_of(event.origin)
        inbound = replace(inbound, source=claimed or inbound.source)
        refusal = sender_refusal(
            inbound.sender,
            event.origin,
            self._routing.source_by_name(claimed) if claimed else None,
            hl7=inbound.content_type == HL7_V2,
        )
        if refusal is not None:
            recorded = await self._audit_rejection(inbound, refusal, action="sender-refused")
            return AcceptResult(AcceptStatus.REJECTED, message_id=recorded, error=refusal)
        if event.event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED:
            return await self._accept_demographics(inbound, event)
        # A receipt confirms a notice the bridge sent; it is recorded, never routed onward.
        destinations = (
            [] if event.event is EventCode.RECEIPT else self._routing.route(event, inbound.source)
        )
        return await self.group.submit(
            _Decoded(inbound, event, tuple(d.name for d in destinations))
        )

    async def _accept_demographics(
        self, inbound: Inbound, event: CareTransitionEvent
    ) -> AcceptResult:
        """A demographic update (ADT^A08 without PV2-9) goes on only when a route's rule
        forwards it, which needs the patient's previous demographics and whether they have an
        open stay or home-care enrolment: read here, in a short session of its own, so the
        group commit stays free of per-message queries. Not forwarded: stored as filtered with
        the rule that decided (docs/routing.md)."""
        facts = None
        if self._routing.routes_demographics(event, inbound.source):
            key, _, _ = self._patient_columns(event)
            try:
                async with self._db.session() as session:
                    stored = await read_demographics(session, event, key)
            except (OperationalError, DBAPIError, OSError) as error:
                log.error("database unavailable, message not accepted: %s", type(error).__name__)
                return AcceptResult(AcceptStatus.UNAVAILABLE, event=event)
            if stored.already_stored:  # a resend: the group commit answers it as a duplicate
                return await self.group.submit(_Decoded(inbound, event, ()))
            facts = stored.facts
        destinations = self._routing.route(event, inbound.source, facts)
        if destinations:
            return await self.group.submit(
                _Decoded(inbound, event, tuple(d.name for d in destinations))
            )
        rule = self._routing.demographics_filter(event, inbound.source, facts)
        reason = f"demographic update (ADT^A08 without PV2-9) forwarded nowhere: {rule}"
        recorded = await self._audit_ignored(inbound, MessageIgnored(reason), rule)
        if recorded is None:
            return AcceptResult(AcceptStatus.UNAVAILABLE, event=event)
        return AcceptResult(AcceptStatus.IGNORED, message_id=recorded, event=event)

    async def _write_batch(self, items: Sequence[_Decoded]) -> list[AcceptResult]:
        """Write ``items`` in one transaction; retried whole on a conflict with another writer.

        A conflict (a concurrent process took the same dedupe key or per-patient sequence
        number) runs the batch again: the new run sees the other transaction's rows. An error
        that is not the database being unreachable may be one message's fault (a value the
        column refuses): the batch is then written one message at a time, so one bad message
        cannot hold back the others.
        """
        for attempt in range(_ACCEPT_TRIES):
            try:
                return await self._commit(items)
            except IntegrityError as error:
                if not _is_conflict(error):
                    # A NOT NULL, CHECK or foreign-key constraint: the content, not a race.
                    if len(items) > 1:
                        return await self._one_by_one(items)
                    return [await self._refused_by_database(items[0], error)]
                log.info("accept conflict, retrying %d messages (try %d)", len(items), attempt + 1)
            except (OperationalError, DBAPIError, OSError) as error:
                if not _unreachable(error):
                    if len(items) > 1:
                        return await self._one_by_one(items)
                    return [await self._refused_by_database(items[0], error)]
                log.error("database unavailable, message not accepted: %s", type(error).__name__)
                return [AcceptResult(AcceptStatus.UNAVAILABLE, event=i.event) for i in items]
        if len(items) > 1:
            return await self._one_by_one(items)
        # A uniqueness conflict on every try, with the batch reduced to this one message: still
        # another writer's doing (a dedupe key or sequence number taken), never the content.
        # Answered "unavailable": the sender sends it again and then finds it stored or free;
        # "rejected" would make it drop the message for good.
        log.error(
            "accept conflict on every one of %d tries; message not accepted, the sender will "
            "send it again",
            _ACCEPT_TRIES,
        )
        return [AcceptResult(AcceptStatus.UNAVAILABLE, event=items[0].event)]

    async def _refused_by_database(self, item: _Decoded, error: Exception) -> AcceptResult:
        """A value the database refuses (DataError, a constraint): permanent, never
        "unavailable", or the sender would resend it for ever (issue 12). The error's text is not
        used: it may quote the value (patient data)."""
        kind = type(getattr(error, "orig", error)).__name__
        rejected = MessageRejected(
            f"the database refuses a value of this message ({kind}); it cannot be stored as sent",
            None,
            code="value",
        )
        recorded = await self._audit_rejection(item.inbound, rejected)
        return AcceptResult(
            AcceptStatus.REJECTED, message_id=recorded, event=item.event, error=rejected
        )

    async def _one_by_one(self, items: Sequence[_Decoded]) -> list[AcceptResult]:
        results: list[AcceptResult] = []
        for item in items:
            results.extend(await self._write_batch([item]))
        return results

    async def _commit(self, items: Sequence[_Decoded]) -> list[AcceptResult]:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            known = await _Known.load(session, items)
            results: list[AcceptResult] = []
            new: list[_New] = []
            for item in items:
                existing = known.find(item)
                if existing is not None:
                    audit.record(
                        session,
                        at=now,
                        action="duplicate",
                        message_id=existing,
                        entrypoint=item.inbound.entrypoint,
                        correlation_id=item.inbound.correlation_id,
                    )
                    known.remember(item, existing)
                    results.append(
                        AcceptResult(AcceptStatus.DUPLICATE, message_id=existing, event=item.event)
                    )
                    continue
                message_id = str(uuid.uuid4())
                known.remember(item, message_id)
                new.append(_New(item, message_id, *self._patient_columns(item.event)))
                results.append(
                    AcceptResult(
                        AcceptStatus.ACCEPTED,
                        message_id=message_id,
                        event=item.event,
                        destinations=item.destinations,
                    )
                )
            await self._insert(session, new, now)
            if known.unseen:
                await core(session, insert(table_of(InboundSeenRow)), known.unseen_rows())
        return results

    async def _insert(self, session: AsyncSession, new: list[_New], now: datetime) -> None:
        """Messages, their outbox rows, episodes and receipts, in a few multi-row statements."""
        if new:
            await core(
                session, insert(table_of(MessageRow)), [self._message_row(n, now) for n in new]
            )
        entries: list[OutboxEntry] = []
        for n in new:
            event, inbound = n.item.event, n.item.inbound
            audit.record(
                session,
                at=now,
                action="accepted",
                message_id=n.message_id,
                event=event.event.value,
                entrypoint=inbound.entrypoint,
                dedupe_key=event.dedupe_key,
                patient=n.masked,
                correlation_id=inbound.correlation_id,
            )
            audit.record(
                session,
                at=now,
                action="routed",
                message_id=n.message_id,
                destinations=list(n.item.destinations),
            )
            flag_unrecognised_restriction(
                session, at=now, message_id=n.message_id, event=event, source=inbound.source
            )
            entries.extend(self._entry(n, name, now) for name in n.item.destinations)
        await add_many_to_outbox(session, entries, now)
        for n in new:
            await self._record_receipt(session, n.item.event, n.message_id)
        await episodes.track_many(
            session,
            [
                episodes.Tracked(n.item.event, n.message_id, n.key, n.item.inbound.source)
                for n in new
            ],
            now,
        )
        placed = [n for n in new if n.item.event.order is not None]
        if placed:  # home-care orders and answers: their deadlines (docs/orders.md)
            await orders.track_many(
                session,
                [
                    orders.TrackedOrder(
                        n.item.event, n.message_id, n.key, n.masked, n.item.inbound.source
                    )
                    for n in placed
                ],
                now,
                self._order_policy,
            )

    @staticmethod
    def _message_row(n: _New, now: datetime) -> dict[str, object]:
        inbound, event = n.item.inbound, n.item.event
        return {
            "id": n.message_id,
            "dedupe_key": event.dedupe_key,
            "source": inbound.source,
            "entrypoint": inbound.entrypoint,
            "content_type": inbound.content_type,
            "event_code": event.event.value,
            "patient_key": n.key,
            "patient_masked": n.masked,
            "protected": n.protected,
            "unrecognised_restriction": unrecognised_restriction(event),
            "payload": hl7_text(inbound.body),
            "canonical": event.model_dump_json(),
            "correlation_id": inbound.correlation_id,
            "received_at": now,
        }

    def _entry(self, n: _New, destination_name: str, now: datetime) -> OutboxEntry:
        delivery_id = str(uuid.uuid4())
        idempotency_key = str(uuid.uuid4())
        payload = self._encoder.encode(
            n.item.event,
            self._routing.destination(destination_name),
            delivery_id=delivery_id,
            idempotency_key=idempotency_key,
            now=now,
        )
        return OutboxEntry(
            delivery_id=delivery_id,
            idempotency_key=idempotency_key,
            message_id=n.message_id,
            destination=destination_name,
            patient_key=n.key,
            content_type=payload.content_type,
            body=payload.body,
            header_id=payload.header_id,
        )

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

    async def _audit_ignored(
        self, inbound: Inbound, ignored: MessageIgnored, rule: str | None = None
    ) -> str | None:
        """Well-formed traffic the bridge does not forward: stored as filtered (findable with
        the rule that filtered it), answered AA, routed nowhere. None: not stored."""
        rule = rule or message_outcomes.NO_EVENT_RULE
        log.info("message filtered via %s: %s", inbound.entrypoint, ignored.reason)
        return await self._store_outcome(
            inbound,
            lambda session, now: message_outcomes.record_filtered(
                session, _answered(inbound), ignored, now, rule=rule
            ),
            "ignored",
            reason=ignored.reason,
            rule=rule,
        )

    async def _audit_rejection(
        self, inbound: Inbound, rejected: MessageRejected, action: str = "rejected"
    ) -> str | None:
        """Stored (masked) for operators when the database allows; the rejection is answered
        whether or not the row lands. None: not stored."""
        log.warning(
            "message rejected via %s: %s",
            inbound.entrypoint,
            rejected,
            extra={"size": len(inbound.body)},
        )
        return await self._store_outcome(
            inbound,
            lambda session, now: message_outcomes.record_rejected(
                session, _answered(inbound), rejected, now
            ),
            action,
            reason=rejected.reason,
            location=rejected.location,
            **({"sender": str(inbound.sender)} if inbound.sender is not None else {}),
        )

    async def _store_outcome(
        self,
        inbound: Inbound,
        store: Callable[[AsyncSession, datetime], str],
        action: str,
        **detail: Any,
    ) -> str | None:
        """A message answered but not taken on: its outcome row and audit row, one transaction.
        None when the database could not take them."""
        try:
            async with self._db.session() as session, session.begin():
                now = self._clock.now()
                outcome_id = store(session, now)
                audit.record(
                    session,
                    at=now,
                    action=action,
                    message_id=outcome_id,
                    entrypoint=inbound.entrypoint,
                    source=inbound.source,
                    correlation_id=inbound.correlation_id,
                    size=len(inbound.body),
                    **detail,
                )
        except (OperationalError, DBAPIError, OSError):
            log.error("could not store a %s message: database unavailable", action)
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


@dataclass(frozen=True)
class _New:
    """A message this batch stores for the first time."""

    item: _Decoded
    message_id: str
    key: str
    masked: str
    protected: bool


class _Known:
    """What a batch knows of earlier messages: stored ones, and those earlier in the batch.

    Dedupe keys (sending facility + message id) and AMQP message ids both find the message
    they were accepted as; a repeat inside one batch is a duplicate of the first (guarantee 2).
    """

    def __init__(self, by_key: dict[str, str], by_transport: dict[tuple[str, str], str]) -> None:
        self.by_key = by_key
        self.by_transport = by_transport
        self.unseen: dict[tuple[str, str], str] = {}

    @classmethod
    async def load(cls, session: AsyncSession, items: Sequence[_Decoded]) -> _Known:
        keys = {item.event.dedupe_key for item in items}
        rows = await core(
            session,
            select(MessageRow.dedupe_key, MessageRow.id).where(MessageRow.dedupe_key.in_(keys)),
        )
        by_key: dict[str, str] = {key: message_id for key, message_id in rows}
        by_transport: dict[tuple[str, str], str] = {}
        transport = [i.inbound for i in items if i.inbound.transport_id is not None]
        for channel in {inbound.entrypoint for inbound in transport}:
            ids = {i.transport_id for i in transport if i.entrypoint == channel}
            seen = await core(
                session,
                select(InboundSeenRow.transport_id, InboundSeenRow.message_id).where(
                    InboundSeenRow.channel == channel, InboundSeenRow.transport_id.in_(ids)
                ),
            )
            by_transport.update({(channel, row[0]): row[1] for row in seen})
        return cls(by_key, by_transport)

    def find(self, item: _Decoded) -> str | None:
        transport = _transport_key(item.inbound)
        found = self.by_transport.get(transport) if transport else None
        return found or self.by_key.get(item.event.dedupe_key)

    def remember(self, item: _Decoded, message_id: str) -> None:
        self.by_key.setdefault(item.event.dedupe_key, message_id)
        transport = _transport_key(item.inbound)
        if transport is not None and transport not in self.by_transport:
            self.by_transport[transport] = message_id
            self.unseen[transport] = message_id

    def unseen_rows(self) -> list[dict[str, str]]:
        return [
            {"channel": channel, "transport_id": transport_id, "message_id": message_id}
            for (channel, transport_id), message_id in self.unseen.items()
        ]


def _transport_key(inbound: Inbound) -> tuple[str, str] | None:
    if inbound.transport_id is None:
        return None
    return (inbound.entrypoint, inbound.transport_id)


_UNIQUE_VIOLATION = "23505"  # PostgreSQL SQLSTATE
_SQLITE_UNIQUE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def _is_conflict(error: IntegrityError) -> bool:
    """A uniqueness violation (another writer took the key: retry) rather than a NOT NULL,
    CHECK or foreign-key constraint the message's own content broke. Unknown: a conflict,
    the answer that keeps the message (the sender resends)."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str):
        return sqlstate == _UNIQUE_VIOLATION
    name = getattr(orig, "sqlite_errorname", None)  # sqlite3
    if isinstance(name, str):
        return name in _SQLITE_UNIQUE
    return True


def _unreachable(error: Exception) -> bool:
    """The database is down or the connection broke (every message fails alike)."""
    return isinstance(error, OperationalError | OSError) or bool(
        getattr(error, "connection_invalidated", False)
    )
