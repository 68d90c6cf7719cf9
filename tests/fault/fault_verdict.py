"""Classify every notice Jepsen-style and print the table.

For each notice the sender got AA for ("accepted"), in this order:
- **delivered**: filed in Treserva's inbox (found by the sender's MSH-10, which the bridge
  carries in the message-origin extension);
- **dead**: not filed, its delivery in the dead letters (by reason);
- **pending**: not filed, its delivery still in the outbox after the drain;
- **unreceipted**: not filed, delivered by HTTP but flagged because no receipt came (the
  silent drop, caught and alerted);
- **lost**: anything else — accepted and then neither filed, nor dead, nor waiting, nor flagged.

*Effective duplicates*: a notice filed more than once (under different idempotency keys);
Treserva's dedupe on the idempotency key would not catch those. Repeats it did catch (the same
key again, at-least-once delivery) are shown as *redelivered*, not counted as duplicates.
*Order violations*: pairs of one patient's notices filed in the opposite order to the one the
sender had them accepted in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fault_load import SenderRecord
from sqlalchemy import select

from bridge.domain.fhir.codes import MESSAGE_ORIGIN_URL
from bridge.store.db import Database
from bridge.store.tables import AlertIncidentRow, AlertOutboxRow, DeliveryRow, MessageRow

OPEN = ("pending", "queued", "in_flight")
INCIDENT_KINDS = ("dead-letter", "unreceipted", "receipt-negative")  # the delivery alerts


@dataclass
class Verdict:
    scenario: str
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    duplicates: int = 0
    redelivered: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    unreceipted: int = 0
    lost: int = 0
    order_violations: int = 0
    recover_seconds: float | None = None
    alerts: Counter[str] = field(default_factory=Counter)
    dropped_by_treserva: int = 0
    # destination-failing incidents: opened (and alerted), and resolved with recovery sent
    incidents_opened: int = 0
    incidents_resolved: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    expect_unreceipted: bool = False

    @property
    def ok(self) -> bool:
        caught = (
            self.unreceipted == self.dropped_by_treserva
            and self.alerts["unreceipted"] >= self.unreceipted
            if self.expect_unreceipted
            else self.unreceipted == 0
        )
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.order_violations == 0
            and self.pending == 0
            and self.accepted == self.sent
            and caught
        )


def origin_message_id(bundle: dict[str, Any]) -> str | None:
    header = bundle["entry"][0]["resource"]
    for extension in header.get("extension", []):
        if extension.get("url") == MESSAGE_ORIGIN_URL:
            for part in extension.get("extension", []):
                if part.get("url") == "messageId":
                    value = part.get("valueString")
                    return str(value) if value is not None else None
    return None


async def classify(
    scenario: str,
    record: SenderRecord,
    inbox: list[dict[str, Any]],
    db: Database,
    fault_ended_at: float | None,
) -> Verdict:
    verdict = Verdict(scenario, sent=len(record.sent), accepted=len(record.accepted))
    filed_order, filings = _filings(inbox)
    rows = await _deliveries(db)
    for control in record.accepted:
        if filings[control] >= 1:
            verdict.delivered += 1
            verdict.duplicates += filings[control] - 1
            continue
        row = rows.get(control)
        if row is not None and row["status"] == "dead":
            verdict.dead[row["dead_reason"] or "?"] += 1
        elif row is not None and row["status"] in OPEN:
            verdict.pending += 1
        elif row is not None and row["receipt_state"] in ("unreceipted", "negative"):
            verdict.unreceipted += 1
        else:
            verdict.lost += 1
    verdict.order_violations = _inversions(record.order, filed_order)
    verdict.alerts = await _alerts(db)
    verdict.incidents_opened, verdict.incidents_resolved = await _incidents(db)
    verdict.recover_seconds = _recovery(rows, fault_ended_at)
    return verdict


def _filings(inbox: list[dict[str, Any]]) -> tuple[list[str], Counter[str]]:
    """Sender control ids in filing order (oldest first), and how often each was filed."""
    order: list[str] = []
    counts: Counter[str] = Counter()
    for item in reversed(inbox):  # the inbox lists newest first
        control = origin_message_id(item["bundle"])
        if control is None:
            continue
        if counts[control] == 0:
            order.append(control)
        counts[control] += 1
    return order, counts


def _inversions(accepted_order: dict[str, list[str]], filed_order: list[str]) -> int:
    position = {
        control: (patient, index)
        for patient, controls in accepted_order.items()
        for index, control in enumerate(controls)
    }
    highest: dict[str, int] = {}
    violations = 0
    for control in filed_order:
        if control not in position:
            continue
        patient, index = position[control]
        if index < highest.get(patient, -1):
            violations += 1
        highest[patient] = max(index, highest.get(patient, -1))
    return violations


async def _deliveries(db: Database) -> dict[str, dict[str, Any]]:
    query = select(
        MessageRow.dedupe_key,
        MessageRow.received_at,
        DeliveryRow.status,
        DeliveryRow.dead_reason,
        DeliveryRow.receipt_state,
        DeliveryRow.delivered_at,
    ).join(DeliveryRow, DeliveryRow.message_id == MessageRow.id)
    async with db.session() as session:
        result = await session.execute(query)
        return {row.dedupe_key.split("|", 1)[1]: dict(row._mapping) for row in result.all()}


async def _alerts(db: Database) -> Counter[str]:
    query = select(AlertOutboxRow.kind).where(
        AlertOutboxRow.action == "raise", AlertOutboxRow.sent_at.is_not(None)
    )
    async with db.session() as session:
        return Counter((await session.scalars(query)).all())


async def _incidents(db: Database) -> tuple[int, int]:
    query = select(AlertIncidentRow).where(AlertIncidentRow.key.startswith("destination-failing:"))
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    # An incident whose alert never went out counts as opened but not alerted: -1 marks it.
    alerted = sum(1 for row in rows if row.alert_sent_at is not None)
    resolved = sum(1 for row in rows if row.recovery_sent_at is not None)
    return (len(rows) if alerted == len(rows) else -1), resolved


def _recovery(rows: dict[str, dict[str, Any]], fault_ended_at: float | None) -> float | None:
    """Seconds from the fault's end until every notice accepted before then was delivered."""
    if fault_ended_at is None:
        return None
    end = datetime.fromtimestamp(fault_ended_at, UTC)
    held = [
        row["delivered_at"]
        for row in rows.values()
        if row["received_at"] <= end and row["delivered_at"] is not None
    ]
    if not held:
        return 0.0
    return max(0.0, (max(held) - end).total_seconds())


COLUMNS = (
    ("scenario", 24),
    ("sent", 6),
    ("accepted", 8),
    ("delivered", 9),
    ("dup", 4),
    ("redeliv", 7),
    ("dead (reason)", 14),
    ("pending", 7),
    ("unrcpt", 6),
    ("lost", 4),
    ("order", 5),
    ("recover s", 9),
    ("alerts", 7),
    ("incid", 5),
    ("result", 6),
)


def table(verdicts: list[Verdict]) -> str:
    header = "  ".join(
        f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(COLUMNS)
    )
    lines = [header, "-" * len(header)]
    for v in verdicts:
        dead = ",".join(f"{k}:{n}" for k, n in sorted(v.dead.items())) or "0"
        recover = "-" if v.recover_seconds is None else f"{v.recover_seconds:.1f}"
        cells = (
            v.scenario,
            v.sent,
            v.accepted,
            v.delivered,
            v.duplicates,
            v.redelivered,
            dead,
            v.pending,
            v.unreceipted,
            v.lost,
            v.order_violations,
            recover,
            sum(v.alerts[kind] for kind in INCIDENT_KINDS),
            f"{v.incidents_opened}/{v.incidents_resolved}",
            "ok" if v.ok else "FAIL",
        )
        lines.append(
            "  ".join(
                f"{cell!s:>{width}}" if i else f"{cell!s:<{width}}"
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)
