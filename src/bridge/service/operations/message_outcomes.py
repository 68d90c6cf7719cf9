"""Every answered message can be found: the ones ``messages`` does not hold, stored here.

A message the bridge accepts and routes is a row in ``messages`` (service/accept.py). One it
answers but does not take on (rejected for its content or an unsupported header, or filtered:
acknowledged, forwarded nowhere, e.g. an ADT^A08 without PV2-9 that no route forwards) is a row in
``message_outcomes``, written in the same transaction as its audit row, with the reason, the
rule that decided, and the payload with personnummer and addresses masked for operators.

:func:`search_outcomes` is what ``bridge messages search``, the ops API and the dashboard read
beside the accepted messages.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.decode import request_header_id
from bridge.domain.hl7.ack import error_code_for
from bridge.domain.hl7.charsets import decode_er7_tolerant
from bridge.domain.hl7.header import peek_header
from bridge.domain.identifiers import mask_in_text
from bridge.store.tables import MessageOutcomeRow

FILTERED = "filtered"
REJECTED = "rejected"
NO_EVENT_RULE = "no-care-transition-event"
"""The rule for a well-formed message that carries no event (``MessageIgnored``). No decoder
raises that today: an ADT^A08 without PV2-9 is a demographic update, filtered by the routing
file's rules (``bridge.domain.demographics``, docs/routing.md)."""
MAX_STORED_PAYLOAD = 64 * 1024

# Fields that may hold an address or a contact: PID-11/13/14 (address, phones), NK1-4/5/6,
# PD1 is kept (no address). Masked whole: a protected person's address must never show.
_ADDRESS_FIELDS = {"PID": (11, 13, 14), "NK1": (4, 5, 6)}
_FHIR_ADDRESS = re.compile(r'"(address|telecom)"\s*:\s*\[[^\]]*\]', re.DOTALL)


@dataclass(frozen=True)
class Answered:
    """Who sent a message and how, as far as an answered-but-not-accepted one can tell."""

    source: str
    entrypoint: str
    content_type: str
    correlation_id: str
    body: bytes


def masked_payload(body: bytes, content_type: str) -> str:
    """The payload for operators: personnummer masked, address and contact fields removed."""
    text = decode_er7_tolerant(body[:MAX_STORED_PAYLOAD]).text
    if "json" in content_type:
        return mask_in_text(_FHIR_ADDRESS.sub(r'"\1": ["***"]', text))
    lines = re.split(r"\r\n|\r|\n", text)
    return mask_in_text("\r".join(_mask_segment(line) for line in lines))


def _mask_segment(line: str) -> str:
    fields = _ADDRESS_FIELDS.get(line[:3])
    if fields is None or len(line) < 4:
        return line
    parts = line.split(line[3])
    for index in fields:
        if index < len(parts) and parts[index]:
            parts[index] = "***"
    return line[3].join(parts)


def record_rejected(
    session: AsyncSession,
    answered: Answered,
    rejected: MessageRejected,
    at: datetime,
) -> str:
    """Add the rejected message to the session's transaction; its id."""
    return _record(
        session,
        answered,
        at,
        outcome=REJECTED,
        reason=rejected.reason,
        location=rejected.location,
        error_code=error_code_for(rejected),
    )


def record_filtered(
    session: AsyncSession,
    answered: Answered,
    ignored: MessageIgnored,
    at: datetime,
    *,
    rule: str = NO_EVENT_RULE,
) -> str:
    """Add the filtered message, with the rule that filtered it; its id."""
    return _record(session, answered, at, outcome=FILTERED, reason=ignored.reason, rule=rule)


def _record(
    session: AsyncSession,
    answered: Answered,
    at: datetime,
    *,
    outcome: str,
    reason: str,
    rule: str | None = None,
    location: str | None = None,
    error_code: str | None = None,
) -> str:
    outcome_id = str(uuid.uuid4())
    facility, control_id, message_type = _sender_ids(answered)
    session.add(
        MessageOutcomeRow(
            id=outcome_id,
            outcome=outcome,
            received_at=at,
            source=answered.source,
            entrypoint=answered.entrypoint,
            content_type=answered.content_type,
            sending_facility=facility,
            control_id=control_id,
            message_type=message_type,
            reason=mask_in_text(reason),
            rule=rule,
            location=location,
            error_code=error_code,
            payload_masked=masked_payload(answered.body, answered.content_type),
            correlation_id=answered.correlation_id,
        )
    )
    return outcome_id


def _sender_ids(answered: Answered) -> tuple[str | None, str | None, str | None]:
    """Sending facility, control id and message type (MSH-4/10/9, or the FHIR ids)."""
    if "json" in answered.content_type:
        return None, _fhir_id(answered.body), "fhir-message"
    header = peek_header(decode_er7_tolerant(answered.body[:MAX_STORED_PAYLOAD]).text)
    if header is None:
        return None, None, None
    facility = next((part for part in header.sending_facility if part), None)
    kind = "^".join(part for part in (header.message_type, header.trigger_event) if part)
    return (
        (facility or "")[:200] or None,
        header.control_id[:200] or None,
        kind[:64] or None,
    )


def _fhir_id(body: bytes) -> str | None:
    try:
        return request_header_id(body)
    except Exception:  # an unreadable bundle has no id to find it by
        return None


@dataclass(frozen=True)
class OutcomeSummary:
    outcome_id: str
    outcome: str
    received_at: datetime
    source: str
    entrypoint: str
    control_id: str
    message_type: str
    reason: str
    rule: str | None
    location: str | None
    error_code: str | None


async def search_outcomes(
    session: AsyncSession,
    *,
    reference: str | None = None,
    outcome: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    limit: int = 100,
) -> list[OutcomeSummary]:
    """Filtered and rejected messages, newest first."""
    query = select(MessageOutcomeRow)
    if reference:
        ref = reference.strip()
        query = query.where(
            (MessageOutcomeRow.id == ref)
            | (MessageOutcomeRow.control_id == ref)
            | (MessageOutcomeRow.control_id == ref.rsplit("|", 1)[-1])
        )
    if outcome:
        query = query.where(MessageOutcomeRow.outcome == outcome)
    if received_from:
        query = query.where(MessageOutcomeRow.received_at >= received_from)
    if received_to:
        query = query.where(MessageOutcomeRow.received_at < received_to)
    query = query.order_by(MessageOutcomeRow.received_at.desc(), MessageOutcomeRow.id)
    rows = (await session.scalars(query.limit(limit))).all()
    return [_summary(row) for row in rows]


def _summary(row: MessageOutcomeRow) -> OutcomeSummary:
    return OutcomeSummary(
        outcome_id=row.id,
        outcome=row.outcome,
        received_at=row.received_at,
        source=row.source,
        entrypoint=row.entrypoint,
        control_id=row.control_id or "",
        message_type=row.message_type or "",
        reason=row.reason,
        rule=row.rule,
        location=row.location,
        error_code=row.error_code,
    )


async def outcome_detail(session: AsyncSession, outcome_id: str) -> dict[str, Any] | None:
    """One filtered or rejected message for an operator: everything, the payload masked."""
    row = await session.get(MessageOutcomeRow, outcome_id)
    if row is None:
        return None
    summary = _summary(row).__dict__
    return {
        **summary,
        "received_at": row.received_at.isoformat(),
        "payload_masked": row.payload_masked,
    }
