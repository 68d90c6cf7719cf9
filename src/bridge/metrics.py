"""``GET /metrics``: Prometheus metrics, read from the shared database (names in
docs/operations.md).

Counters come from the audit log, which records every message received, accepted, rejected,
delivered and dead-lettered in the same transaction as the change. Its ``seq`` is commit order
without gaps (service/operations/audit.py), so each scrape reads only the rows appended since the
last one and adds them to running totals kept here: cheap, and exact. Gauges (queue depth, oldest
waiting message, dead letters, unreceipted notices, open alerts) are read fresh at each scrape.

Every bridge process therefore reports the same cluster-wide figures, whichever process
accepted or delivered a message: scrape any one, or aggregate several with ``max``, not ``sum``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from bridge.bootstrap import Bridge
from bridge.service.delivery.restrictions import ACTION as RESTRICTION_UNRECOGNISED
from bridge.service.operations.audit import HEAD_ID
from bridge.store.tables import (
    AlertIncidentRow,
    AuditChainHeadRow,
    AuditRow,
    DeliveryRow,
    MessageRow,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
WAITING = ("pending", "queued", "in_flight")
_COUNTED = (
    "accepted",
    "routed",
    "ignored",
    "duplicate",
    "rejected",
    "sender-refused",
    "delivered",
    "dead_lettered",
    "attempt_failed",
    "unreceipted",
    RESTRICTION_UNRECOGNISED,
)

# name → (help, label names); every counter is documented in docs/operations.md.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bridge_messages": (
        "Answered inbound messages by outcome: routed, not-routed, filtered, rejected, refused, "
        "duplicate.",
        ("outcome", "source", "entrypoint"),
    ),
    "bridge_messages_received": (
        "Inbound messages received (accepted, duplicate or rejected).",
        ("source", "entrypoint"),
    ),
    "bridge_messages_accepted": (
        "Inbound messages accepted (stored, routed).",
        ("source", "event_type", "entrypoint"),
    ),
    "bridge_messages_duplicate": (
        "Inbound messages recognised as repeats (acknowledged again, delivered once).",
        ("source", "event_type", "entrypoint"),
    ),
    "bridge_messages_rejected": (
        "Inbound messages rejected (AR / 4xx).",
        ("source", "entrypoint"),
    ),
    "bridge_senders_refused": (
        "Inbound messages refused because the authenticated sender may not send as the source "
        "they name (docs/security.md); also counted as rejected.",
        ("source", "entrypoint"),
    ),
    "bridge_messages_delivered": (
        "Notices delivered to a destination.",
        ("source", "event_type", "destination"),
    ),
    "bridge_messages_dead_lettered": (
        "Notices that went to the dead letters.",
        ("source", "event_type", "destination"),
    ),
    "bridge_delivery_attempts_failed": (
        "Delivery attempts that failed and will be retried.",
        ("destination",),
    ),
    "bridge_notices_unreceipted": (
        "Delivered notices whose receipt did not come in time.",
        ("destination",),
    ),
    "bridge_restrictions_unrecognised": (
        "Accepted messages with a confidentiality code the bridge did not recognise (the person "
        "was treated as protected).",
        ("source",),
    ),
}


@dataclass
class _Totals:
    """Running totals from the audit log up to ``seq``."""

    seq: int = 0
    counters: dict[str, Counter[tuple[str, ...]]] = field(
        default_factory=lambda: {name: Counter() for name in COUNTERS}
    )
    latency: dict[str, list[float]] = field(default_factory=dict)  # bucket counts per dest.
    latency_sum: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Gauges:
    queue_depth: dict[str, int]
    oldest_age: dict[str, float]
    dead_letters: dict[str, int]
    unreceipted: dict[str, int]
    alerts_open: dict[str, int]
    ready: dict[str, bool]
    audit_seq: int


class Metrics:
    """One per process; :meth:`render` is the body of ``GET /metrics``."""

    def __init__(self, bridge: Bridge, page: int = 5000) -> None:
        self._bridge = bridge
        self._page = page
        self._totals = _Totals()
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        async with self._lock:
            await self._catch_up()
            gauges = await self._gauges()
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Snapshot(self._totals, gauges, self._destinations()))
            return generate_latest(registry)

    def _destinations(self) -> list[str]:
        return [d.name for d in self._bridge.routing.destinations]

    async def _catch_up(self) -> None:
        """Add the audit rows committed since the last scrape to the totals."""
        delivery = aliased(DeliveryRow)
        while True:
            async with self._bridge.db.session() as session:
                # The head first: every row up to its seq is committed (same transaction).
                head = await session.get(AuditChainHeadRow, HEAD_ID)
                target = head.seq if head is not None else 0
                query = (
                    select(
                        AuditRow.seq,
                        AuditRow.action,
                        AuditRow.at,
                        AuditRow.detail,
                        MessageRow.source,
                        MessageRow.event_code,
                        MessageRow.entrypoint,
                        MessageRow.received_at,
                        delivery.destination,
                    )
                    .outerjoin(MessageRow, MessageRow.id == AuditRow.message_id)
                    .outerjoin(delivery, delivery.id == AuditRow.delivery_id)
                    .where(
                        AuditRow.seq > self._totals.seq,
                        AuditRow.seq <= target,
                        AuditRow.action.in_(_COUNTED),
                    )
                    .order_by(AuditRow.seq)
                    .limit(self._page)
                )
                rows = (await session.execute(query)).all()
            for row in rows:
                self._count(row)
                self._totals.seq = row.seq
            if len(rows) < self._page:
                self._totals.seq = max(self._totals.seq, target)
                return

    def _count(self, row: Any) -> None:
        counters = self._totals.counters
        source = row.source or _detail(row.detail).get("source") or "unknown"
        event = row.event_code or "unknown"
        destination = row.destination or _detail(row.detail).get("destination") or "unknown"
        entrypoint = row.entrypoint or _detail(row.detail).get("entrypoint") or "unknown"
        outcome = _outcome(row.action, _detail(row.detail))
        if outcome is not None:
            counters["bridge_messages"][(outcome, source, entrypoint)] += 1
        if row.action in ("accepted", "duplicate", "rejected", "sender-refused"):
            counters["bridge_messages_received"][(source, entrypoint)] += 1
        if row.action == "accepted":
            counters["bridge_messages_accepted"][(source, event, entrypoint)] += 1
        elif row.action == "duplicate":
            counters["bridge_messages_duplicate"][(source, event, entrypoint)] += 1
        elif row.action == "rejected":
            counters["bridge_messages_rejected"][(source, entrypoint)] += 1
        elif row.action == "sender-refused":
            counters["bridge_messages_rejected"][(source, entrypoint)] += 1
            counters["bridge_senders_refused"][(source, entrypoint)] += 1
        elif row.action == "delivered":
            counters["bridge_messages_delivered"][(source, event, destination)] += 1
            if row.received_at is not None:
                self._observe(destination, (row.at - row.received_at).total_seconds())
        elif row.action == "dead_lettered":
            counters["bridge_messages_dead_lettered"][(source, event, destination)] += 1
        elif row.action == "attempt_failed":
            counters["bridge_delivery_attempts_failed"][(destination,)] += 1
        elif row.action == "unreceipted":
            counters["bridge_notices_unreceipted"][(destination,)] += 1
        elif row.action == RESTRICTION_UNRECOGNISED:
            counters["bridge_restrictions_unrecognised"][(source,)] += 1

    def _observe(self, destination: str, seconds: float) -> None:
        buckets = self._totals.latency.setdefault(destination, [0.0] * (len(LATENCY_BUCKETS) + 1))
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                buckets[index] += 1
        buckets[-1] += 1  # +Inf
        sums = self._totals.latency_sum
        sums[destination] = sums.get(destination, 0.0) + max(seconds, 0.0)

    async def _gauges(self) -> _Gauges:
        bridge = self._bridge
        ready = await bridge.readiness()
        now = bridge.clock.now()
        async with bridge.db.session() as session:
            waiting = (
                await session.execute(
                    select(DeliveryRow.destination, func.count(), func.min(DeliveryRow.created_at))
                    .where(DeliveryRow.status.in_(WAITING))
                    .group_by(DeliveryRow.destination)
                )
            ).all()
            dead = await _count_by(session, DeliveryRow.status == "dead")
            unreceipted = await _count_by(session, DeliveryRow.receipt_state == "unreceipted")
            alerts = (
                await session.execute(
                    select(AlertIncidentRow.kind, func.count())
                    .where(AlertIncidentRow.resolved_at.is_(None))
                    .group_by(AlertIncidentRow.kind)
                )
            ).all()
            head = await session.get(AuditChainHeadRow, HEAD_ID)
        return _Gauges(
            queue_depth={row[0]: int(row[1]) for row in waiting},
            oldest_age={row[0]: _age(now, row[2]) for row in waiting},
            dead_letters=dead,
            unreceipted=unreceipted,
            alerts_open={row[0]: int(row[1]) for row in alerts},
            ready=ready,
            audit_seq=head.seq if head else 0,
        )


async def _count_by(session: Any, condition: Any) -> dict[str, int]:
    rows = (
        await session.execute(
            select(DeliveryRow.destination, func.count())
            .where(condition)
            .group_by(DeliveryRow.destination)
        )
    ).all()
    return {row[0]: int(row[1]) for row in rows}


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since else 0.0


def _outcome(action: str, detail: dict[str, Any]) -> str | None:
    """The ``outcome`` label of an answered message, from the audit row that settles it."""
    if action == "routed":
        return "routed" if detail.get("destinations") else "not-routed"
    outcomes = {
        "ignored": "filtered",
        "rejected": "rejected",
        "sender-refused": "refused",
        "duplicate": "duplicate",
    }
    return outcomes.get(action)


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Snapshot:
    """A prometheus_client collector over one scrape's figures."""

    def __init__(self, totals: _Totals, gauges: _Gauges, destinations: list[str]) -> None:
        self._totals = totals
        self._gauges = gauges
        self._destinations = sorted(set(destinations) | _seen_destinations(totals, gauges))

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield self._latency()
        yield from self._per_destination()
        yield from self._process()

    def _counters(self) -> Iterator[Metric]:
        for name, (help_text, labels) in COUNTERS.items():
            counter = CounterMetricFamily(name, help_text, labels=list(labels))
            for label_values, count in sorted(self._totals.counters[name].items()):
                counter.add_metric(list(label_values), count)
            yield counter

    def _per_destination(self) -> Iterator[Metric]:
        gauges = self._gauges
        per_destination: tuple[tuple[str, str, dict[str, Any]], ...] = (
            ("bridge_queue_depth", "Notices waiting to be delivered.", gauges.queue_depth),
            (
                "bridge_queue_oldest_age_seconds",
                "Age of the oldest notice waiting to be delivered (0: none waiting).",
                gauges.oldest_age,
            ),
            ("bridge_dead_letters", "Dead letters waiting for an operator.", gauges.dead_letters),
            (
                "bridge_unreceipted_notices",
                "Delivered notices without a receipt past their deadline, now.",
                gauges.unreceipted,
            ),
        )
        for name, help_text, values in per_destination:
            family = GaugeMetricFamily(name, help_text, labels=["destination"])
            for destination in self._destinations:
                family.add_metric([destination], values.get(destination, 0))
            yield family

    def _process(self) -> Iterator[Metric]:
        gauges = self._gauges
        alerts = GaugeMetricFamily(
            "bridge_alerts_open", "Open alert incidents, per kind.", labels=["kind"]
        )
        for kind, count in sorted(gauges.alerts_open.items()):
            alerts.add_metric([kind], count)
        yield alerts
        up = GaugeMetricFamily(
            "bridge_dependency_up",
            "1 when the dependency is reachable from this process (database, broker).",
            labels=["dependency"],
        )
        for dependency, ok in sorted(gauges.ready.items()):
            up.add_metric([dependency], 1 if ok else 0)
        yield up
        yield GaugeMetricFamily(
            "bridge_audit_log_rows", "Rows in the audit hash chain.", value=gauges.audit_seq
        )

    def _latency(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "bridge_delivery_latency_seconds",
            "Seconds from receiving a message to delivering it, per destination.",
            labels=["destination"],
        )
        for destination, buckets in sorted(self._totals.latency.items()):
            bounds = [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
            family.add_metric(
                [destination],
                list(zip(bounds, buckets, strict=True)),
                self._totals.latency_sum[destination],
            )
        return family


def _seen_destinations(totals: _Totals, gauges: _Gauges) -> set[str]:
    seen = set(gauges.queue_depth) | set(gauges.dead_letters) | set(gauges.unreceipted)
    return seen | set(totals.latency)


def metrics_router(bridge: Bridge) -> APIRouter:
    """``GET /metrics``; no sign-in (no patient data: labels are sources, events, destinations)."""
    router = APIRouter()
    metrics = Metrics(bridge)

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics (names in docs/operations.md)",
        responses={200: {"content": {CONTENT_TYPE: {}}}},
    )
    async def scrape() -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return router
