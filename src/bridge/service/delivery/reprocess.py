"""Reprocess: run stored inbound messages through the current routes and mappings again.

A route that named the wrong destination, a mapping that was wrong, an address that changed:
after the fix, the messages it spoiled are run again from the raw payload the bridge stored
when it accepted them — decoded again (corrected mappings apply), routed by the routing the
process runs now, encoded for each destination's current address. Per message and destination
in the current routing:

- ``rework``: the message's delivery there is still ``dead`` or ``pending`` (never delivered):
  it is encoded again in place, with a fresh idempotency key (the corrected content must not be
  dropped by a receiver as a repeat of the old), and keeps its place in the patient's order —
  the notices held behind it still wait for it;
- ``new``: there is none, or it was delivered or discarded: a new delivery, numbered after the
  patient's last one (per-patient order; bulk runs go oldest message first);
- ``busy``: it is being sent right now; left alone (run again later).

A delivery that is ``dead`` or ``pending`` at a destination the current routing no longer names
is discarded (``drop``), so it stops holding the patient's later notices there back.

Not reprocessed (``skip``): the bridge's own deviation alerts, receipts, demographic updates
(their forwarding depends on the patient's state at the time), messages whose payload the
retention has pruned, and messages that no longer decode (the reason is shown).

``dry_run`` computes the same plan and writes nothing, not even an audit row. A real run writes
each message in its own transaction, audited (``reprocessed``) with who, why and what.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.model import CareTransitionEvent, EventCode
from bridge.domain.routing import RoutingTable
from bridge.service.clock import Clock
from bridge.service.delivery.dead_letters import dead_letter_alert_key
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2, OutboundEncoder
from bridge.service.delivery.outbox import OutboxEntry, add_many_to_outbox, fresh_window
from bridge.service.operations import alert_outbox, audit
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow, MessageRow

REWORKABLE = ("dead", "pending")
OWN_ENTRYPOINTS = ("deadlines",)  # messages the bridge made itself (deviation alerts)


class Action(StrEnum):
    NEW = "new"
    REWORK = "rework"
    BUSY = "busy"
    DROP = "drop"
    SKIP = "skip"


class Outcome(StrEnum):
    """What became of a message, to pick the ones to run again."""

    DELIVERED = "delivered"
    UNRECEIPTED = "unreceipted"
    DEAD = "dead"
    DISCARDED = "discarded"
    PENDING = "pending"
    UNROUTED = "unrouted"


@dataclass(frozen=True)
class ReprocessFilter:
    """Which stored messages; fields left None match all. Times compare with ``received_at``."""

    message_id: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    source: str | None = None
    event_code: str | None = None
    patient_keys: tuple[str, ...] | None = None
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Step:
    """One line of the plan: a message, a destination, what is (or would be) done."""

    message_id: str
    event_code: str
    patient_masked: str
    action: Action
    destination: str | None = None
    address: str | None = None
    delivery_id: str | None = None
    note: str = ""


class Reprocessor:
    """Plans and runs reprocessing; ``on_changed`` wakes the relay (optional)."""

    def __init__(
        self,
        db: Database,
        routing: RoutingTable,
        encoder: OutboundEncoder,
        clock: Clock,
        on_changed: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._routing = routing
        self._encoder = encoder
        self._clock = clock
        self._on_changed = on_changed

    async def message_ids(self, where: ReprocessFilter, *, limit: int = 10_000) -> list[str]:
        """The matching messages' ids, oldest first (the order a bulk run goes in)."""
        query = (
            _filtered(select(MessageRow.id), where)
            .order_by(MessageRow.received_at, MessageRow.id)
            .limit(limit)
        )
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def plan(self, message_id: str) -> list[Step]:
        """What reprocessing this message would do now; writes nothing."""
        async with self._db.session() as session:
            message = await session.get(MessageRow, message_id)
            if message is None:
                raise LookupError(f"no message with id {message_id}")
            return (await self._plan(session, message))[0]

    async def run(self, message_id: str, *, actor: str, reason: str) -> list[Step]:
        """Reprocess one message in one transaction, audited. Raises ``ValueError`` without a
        reason, ``LookupError`` for an unknown id."""
        if not reason.strip():
            raise ValueError("a reason is required to reprocess messages")
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            message = await session.get(MessageRow, message_id, with_for_update=True)
            if message is None:
                raise LookupError(f"no message with id {message_id}")
            steps, event = await self._plan(session, message)
            if event is None:
                return steps
            done = await self._apply(session, message, event, steps, now, actor)
            audit.record(
                session,
                at=now,
                action="reprocessed",
                message_id=message_id,
                actor=actor,
                reason=reason,
                steps=[
                    {
                        "action": s.action.value,
                        "destination": s.destination,
                        "delivery": s.delivery_id,
                    }
                    for s in done
                ],
            )
        if self._on_changed is not None and any(s.action is not Action.SKIP for s in done):
            self._on_changed()
        return done

    async def _plan(
        self, session: AsyncSession, message: MessageRow
    ) -> tuple[list[Step], CareTransitionEvent | None]:
        def skip(note: str) -> tuple[list[Step], None]:
            return [
                Step(message.id, message.event_code, message.patient_masked, Action.SKIP, note=note)
            ], None

        if message.entrypoint in OWN_ENTRYPOINTS:
            return skip("made by the bridge itself (a deviation alert), not received")
        if not message.payload:
            return skip("payload pruned by the retention")
        try:
            event = _decode(message.content_type, message.payload)
        except (MessageRejected, MessageIgnored) as error:
            return skip(f"does not decode now: {error}")
        if event.event is EventCode.RECEIPT:
            return skip("a receipt: recorded, never routed")
        if event.event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED:
            return skip("a demographic update: its forwarding depends on the state at the time")
        source = self._routing.source_of(event.origin) or message.source
        routed = self._routing.route(event, source)
        existing = (
            await session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.message_id == message.id)
                .order_by(DeliveryRow.seq.desc())
            )
        ).all()
        latest: dict[str, DeliveryRow] = {}
        for row in existing:
            latest.setdefault(row.destination, row)
        steps: list[Step] = []
        base = (message.id, message.event_code, message.patient_masked)
        for destination in routed:
            current = latest.get(destination.name)
            if current is not None and current.status in REWORKABLE:
                action, delivery_id = Action.REWORK, current.id
            elif current is not None and current.status in ("queued", "in_flight"):
                action, delivery_id = Action.BUSY, current.id
            else:
                action, delivery_id = Action.NEW, None
            steps.append(Step(*base, action, destination.name, destination.address, delivery_id))
        named = {d.name for d in routed}
        for name, row in latest.items():
            if name not in named and row.status in REWORKABLE:
                steps.append(Step(*base, Action.DROP, name, None, row.id, "no longer routed there"))
        if not steps:
            steps.append(Step(*base, Action.SKIP, note="the current routes send it nowhere"))
        return steps, event

    async def _apply(
        self,
        session: AsyncSession,
        message: MessageRow,
        event: CareTransitionEvent,
        steps: Sequence[Step],
        now: datetime,
        actor: str,
    ) -> list[Step]:
        done: list[Step] = []
        new_entries: list[OutboxEntry] = []
        for step in steps:
            if step.action is Action.REWORK:
                done.append(await self._rework(session, event, step, now, actor))
            elif step.action is Action.DROP:
                done.append(await self._drop(session, step, now, actor))
            elif step.action is Action.NEW:
                entry = self._entry(message, event, step, now)
                new_entries.append(entry)
                done.append(_with(step, delivery_id=entry.delivery_id))
            else:
                done.append(step)
        await add_many_to_outbox(session, new_entries, now)
        return done

    async def _rework(
        self,
        session: AsyncSession,
        event: CareTransitionEvent,
        step: Step,
        now: datetime,
        actor: str,
    ) -> Step:
        assert step.delivery_id is not None
        assert step.destination is not None
        key = str(uuid.uuid4())
        payload = self._encoder.encode(
            event,
            self._routing.destination(step.destination),
            delivery_id=step.delivery_id,
            idempotency_key=key,
            now=now,
        )
        changed = await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == step.delivery_id, DeliveryRow.status.in_(REWORKABLE))
            .values(
                status="pending",
                idempotency_key=key,
                content_type=payload.content_type,
                payload=payload.body,
                header_id=payload.header_id,
                lease_until=None,
                last_error=None,
                dead_reason=None,
                dead_at=None,
                **fresh_window(now),
            )
            .returning(DeliveryRow.id)
        )
        if changed.first() is None:
            return _with(step, action=Action.BUSY, note="taken by a worker meanwhile")
        alert_outbox.resolve_later(
            session,
            at=now,
            key=dead_letter_alert_key(step.delivery_id),
            summary=f"reprocessed by {actor}",
        )
        return step

    async def _drop(self, session: AsyncSession, step: Step, now: datetime, actor: str) -> Step:
        assert step.delivery_id is not None
        changed = await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == step.delivery_id, DeliveryRow.status.in_(REWORKABLE))
            .values(
                status="discarded",
                discard_reason=f"no longer routed to {step.destination} (reprocessed by {actor})",
                updated_at=now,
            )
            .returning(DeliveryRow.id)
        )
        if changed.first() is None:
            return _with(step, action=Action.BUSY, note="taken by a worker meanwhile")
        alert_outbox.resolve_later(
            session,
            at=now,
            key=dead_letter_alert_key(step.delivery_id),
            summary=f"dropped by reprocessing ({actor})",
        )
        return step

    def _entry(
        self, message: MessageRow, event: CareTransitionEvent, step: Step, now: datetime
    ) -> OutboxEntry:
        assert step.destination is not None
        delivery_id, key = str(uuid.uuid4()), str(uuid.uuid4())
        payload = self._encoder.encode(
            event,
            self._routing.destination(step.destination),
            delivery_id=delivery_id,
            idempotency_key=key,
            now=now,
        )
        return OutboxEntry(
            delivery_id=delivery_id,
            idempotency_key=key,
            message_id=message.id,
            destination=step.destination,
            patient_key=message.patient_key,
            content_type=payload.content_type,
            body=payload.body,
            header_id=payload.header_id,
        )


def _with(step: Step, **changes: Any) -> Step:
    values = {**step.__dict__, **changes}
    return Step(**values)


def _decode(content_type: str, payload: str) -> CareTransitionEvent:
    """The stored text decoded again (it was stored as text, in whatever MSH-18 said)."""
    if content_type == HL7_V2:
        return decode_hl7(payload)
    if content_type == FHIR_JSON:
        return decode_message_bundle(payload)
    raise MessageRejected(f"unsupported content type {content_type!r}", "content_type")


def _filtered(query: Select[Any], where: ReprocessFilter) -> Select[Any]:
    query = query.where(MessageRow.entrypoint.not_in(OWN_ENTRYPOINTS))
    if where.message_id is not None:
        query = query.where(MessageRow.id == where.message_id)
    if where.received_from is not None:
        query = query.where(MessageRow.received_at >= where.received_from)
    if where.received_to is not None:
        query = query.where(MessageRow.received_at < where.received_to)
    if where.source is not None:
        query = query.where(MessageRow.source == where.source)
    if where.event_code is not None:
        query = query.where(MessageRow.event_code == where.event_code)
    if where.patient_keys is not None:
        query = query.where(MessageRow.patient_key.in_(where.patient_keys))
    if where.outcome is not None:
        query = query.where(_outcome(where.outcome))
    return query


def _outcome(outcome: Outcome) -> Any:
    of_message = DeliveryRow.message_id == MessageRow.id
    if outcome is Outcome.UNROUTED:
        return ~exists().where(of_message)
    condition: Any
    if outcome is Outcome.UNRECEIPTED:
        condition = DeliveryRow.receipt_state.in_(("unreceipted", "negative"))
    elif outcome is Outcome.PENDING:
        condition = DeliveryRow.status.in_(("pending", "queued", "in_flight"))
    else:
        condition = DeliveryRow.status == outcome.value
    return exists().where(of_message, condition)
