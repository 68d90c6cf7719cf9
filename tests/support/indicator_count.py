"""The indicators of any period (month, half-year, year), counted from the generator's log alone.

The same reading of the law as ``tests/e2e/test_deviations_month.py`` (which counts one month),
for a period from ``start`` (inclusive) to ``end`` (exclusive), plus the average length of stay
and the share of discharges with a SIP plan. Nothing of the bridge is used.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.domain.episodes import STOCKHOLM
from bridge.domain.model import EventCode
from support.ward_month import TAKECARE, StayLog, WardMonth

ALL = "all"
Expected = dict[tuple[str, str], tuple[float | None, int | None]]
Add = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def plus_calendar_days(moment: datetime, days: int) -> datetime:
    wall = moment.astimezone(STOCKHOLM).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=STOCKHOLM)


def count(traffic: WardMonth, window: Window, report_time: datetime) -> Expected:
    """(indicator, ward HSA-id or ``all``) → (numerator or sum or mean, denominator)."""
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0])
    lengths: dict[str, list[float]] = defaultdict(list)

    def add(indicator: str, unit: str, hit: float) -> None:
        for key in ((indicator, unit), (indicator, ALL)):
            counts[key][0] += hit
            counts[key][1] += 1

    stays = [stay for stay in traffic.stays if not stay.cancelled]
    for stay in stays:
        ward = stay.ward.hsa_id or ""
        if window.holds(stay.admitted_at):
            sent = stay.admission_sent
            on_time = sent is not None and sent - stay.admitted_at <= timedelta(hours=24)
            add("admission-notice-24h", ward, on_time)
        _sip(stay, traffic, window, report_time, add)
        _ready_days(stay, window, add)
        _readmission(stay, stays, window, add)
        if window.holds(stay.discharged_at):
            assert stay.discharged_at is not None
            days = (stay.discharged_at - stay.admitted_at).total_seconds() / 86400
            for unit in (ward, ALL):
                lengths[unit].append(days)
            plans = any(n.event.event is EventCode.SIP_PLAN_ESTABLISHED for n in stay.notices)
            add("discharges-with-sip-plan", ward, plans)
    for send in traffic.sends:
        if send.system != TAKECARE or send.event.event.value.startswith("homecare"):
            continue
        if window.holds(send.at):
            ward = _ward_of(send.message_id, traffic)
            receipted = send.receipt_after is not None and send.at + send.receipt_after <= (
                report_time
            )
            add("unreceipted-notices", ward, not receipted)
    expected: Expected = {key: (hit, int(total)) for key, (hit, total) in counts.items()}
    for unit, found in lengths.items():
        expected[("average-length-of-stay", unit)] = (round(statistics.fmean(found), 2), len(found))
    return expected


def _sip(
    stay: StayLog, traffic: WardMonth, window: Window, report_time: datetime, add: Add
) -> None:
    if not stay.ready_sent or not window.holds(stay.ready_sent[-1]):
        return
    ready = stay.ready_sent[-1]
    enrolled = any(
        e.personnummer == stay.personnummer and e.start <= ready for e in traffic.enrolments
    )
    if not enrolled:
        return
    deadline = plus_calendar_days(ready, 3)
    if stay.sip_sent is None and report_time <= deadline:
        return
    on_time = stay.sip_sent is not None and stay.sip_sent <= deadline
    add("sip-invitation-3d", stay.ward.hsa_id or "", on_time)


def _ready_days(stay: StayLog, window: Window, add: Add) -> None:
    if not window.holds(stay.discharged_at) or not stay.ready_sent:
        return
    assert stay.discharged_at is not None
    local = STOCKHOLM
    days = (
        stay.discharged_at.astimezone(local).date() - stay.ready_sent[-1].astimezone(local).date()
    ).days
    days = max(days, 0)
    ward = stay.ward.hsa_id or ""
    add("discharge-ready-days", ward, days)
    if stay.admission_sent is not None:
        add("municipal-payment-days", ward, max(days - 3, 0))


def unplanned(stay: StayLog) -> bool:
    """Admission type emergency, urgent or accident; without a type, encounter class EMER."""
    if stay.admission_type is not None:
        return stay.admission_type in {"emergency", "urgent", "accident"}
    return stay.class_code == "EMER"


def _readmission(stay: StayLog, stays: list[StayLog], window: Window, add: Add) -> None:
    if not window.holds(stay.discharged_at):
        return
    assert stay.discharged_at is not None
    day = stay.discharged_at.astimezone(STOCKHOLM).date()
    born = stay.birth_date
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    if age < 65:
        return
    back = any(
        other.personnummer == stay.personnummer
        and unplanned(other)
        and stay.discharged_at < other.admitted_at <= stay.discharged_at + timedelta(days=30)
        for other in stays
    )
    add("readmission-30d-65plus", stay.ward.hsa_id or "", back)


def _ward_of(message_id: str, traffic: WardMonth) -> str:
    for stay in traffic.stays:
        if any(send.message_id == message_id for send in stay.notices):
            return stay.ward.hsa_id or ""
    raise AssertionError(f"no stay sent {message_id}")
