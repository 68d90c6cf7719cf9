"""What a coordinator's worklist must show at a moment, counted from the generator's log alone.

Independent of the bridge: the ward's own record of each stay (:class:`StayLog`), Treserva's
answers (:class:`Send.receipt_after`) and the municipality's enrolments, read with the law's
words: the admission notice receipted within 24 h of admission, the SIP call within 3 calendar
days (Swedish local time) of each discharge-ready notice for a home-care patient, unless that
notice was withdrawn first; days of municipal payment after the third calendar day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge.domain.episodes import STOCKHOLM
from bridge.domain.model import EventCode
from support.ward_month import StayLog, WardMonth

ADMISSION_RULE = "admission-notice-24h"
SIP_RULE = "sip-invitation-3d"


@dataclass
class Expected:
    """One open stay as the worklist must show it."""

    personnummer: str
    ward: str
    due: set[str] = field(default_factory=set)
    overdue: set[str] = field(default_factory=set)
    payment_days: int = 0


def plus_calendar_days(moment: datetime, days: int) -> datetime:
    wall = moment.astimezone(STOCKHOLM).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=STOCKHOLM)


def open_stays(traffic: WardMonth, now: datetime) -> dict[str, Expected]:
    """Per visit number: the stays the hospital had told about by ``now`` and not yet
    discharged or cancelled, with their due and overdue deadlines."""
    found: dict[str, Expected] = {}
    for stay in traffic.stays:
        sent = [notice for notice in stay.notices if notice.at <= now]
        if not sent:
            continue
        events = {notice.event.event for notice in sent}
        if EventCode.ADMISSION_CANCELLED in events or EventCode.DISCHARGE in events:
            continue
        expected = Expected(stay.personnummer, stay.ward.hsa_id or "")
        _admission(stay, now, expected)
        _sip(stay, traffic, now, expected)
        expected.payment_days = _payment_days(stay, now)
        found[stay.visit_number] = expected
    return found


def _place(
    rule: str, deadline: datetime, done: datetime | None, now: datetime, into: Expected
) -> None:
    if done is not None:
        return  # met or late: nothing left to do
    (into.due if now <= deadline else into.overdue).add(rule)


def _admission(stay: StayLog, now: datetime, into: Expected) -> None:
    deadline = stay.admitted_at + timedelta(hours=24)
    receipted = None
    if stay.admission_sent is not None:
        [notice] = [n for n in stay.notices if n.event.event is EventCode.ADMISSION]
        if notice.receipt_after is not None and notice.at + notice.receipt_after <= now:
            receipted = notice.at + notice.receipt_after
    _place(ADMISSION_RULE, deadline, receipted, now, into)


def _sip(stay: StayLog, traffic: WardMonth, now: datetime, into: Expected) -> None:
    called = stay.sip_sent if stay.sip_sent is not None and stay.sip_sent <= now else None
    for index, ready in enumerate(stay.ready_sent):
        if ready > now:
            continue
        enrolled = any(
            e.personnummer == stay.personnummer and e.start <= ready for e in traffic.enrolments
        )
        if not enrolled:
            continue
        deadline = plus_calendar_days(ready, 3)
        withdrawn = stay.withdrawn[index] if index < len(stay.withdrawn) else None
        if called is not None and called <= deadline:
            continue
        if withdrawn is not None and withdrawn <= now and withdrawn <= deadline:
            continue
        _place(SIP_RULE, deadline, called, now, into)


def _payment_days(stay: StayLog, now: datetime) -> int:
    readies = [ready for ready in stay.ready_sent if ready <= now]
    withdrawals = [w for w in stay.withdrawn if w <= now]
    if not readies or len(withdrawals) >= len(readies):
        return 0
    if stay.admission_sent is None or stay.admission_sent > now:
        return 0
    days = (now.astimezone(STOCKHOLM).date() - readies[-1].astimezone(STOCKHOLM).date()).days
    return max(days - 3, 0)
