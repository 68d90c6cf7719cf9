"""The care coordinator's worklist: today's work on open hospital stays. Pure.

For every open stay it says where the stay stands for the people who plan the discharge:
admitted when, discharge-ready since when, when the SIP call (kallelse till SIP) is due, how many
days already count toward the municipality's payment responsibility (betalningsansvar), and the
law's deadlines that are still **due** (the clock runs, nothing done yet) or **overdue** (the
clock ran out with nothing done), each with who owns it. "Changed since yesterday" is every
notice of the stay the bridge took in the 24 hours before ``now``.

The deadlines are the rule book's (:mod:`bridge.domain.deadlines`), evaluated at ``now``: the
worklist and the deviations never disagree. Rules counted per notice and recipient (receipts)
are the systems' business, not the coordinator's, and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.domain.deadlines import Anchor, RuleBook, Verdict, evaluate
from bridge.domain.episodes import (
    DischargeReady,
    EpisodeFacts,
    EpisodeStatus,
    Unit,
    local_date,
    ordered,
)
from bridge.domain.model import EventCode

CHANGES_WITHIN = timedelta(hours=24)
""""What changed since yesterday": the notices of the last 24 hours."""
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DueItem:
    """One deadline of a stay still to be met: ``overdue`` once its time has run out."""

    rule_id: str
    title: str
    due_at: datetime
    overdue: bool
    owner: Unit | None
    owner_role: str
    """``ward`` or ``primary-care`` (the fast vårdkontakt calls the SIP)."""


@dataclass(frozen=True)
class Change:
    event: EventCode
    at: datetime


@dataclass(frozen=True)
class WorklistItem:
    """One open stay as the coordinator sees it (the patient's identity is added outside)."""

    episode_id: str
    patient_key: str
    unit: Unit | None
    primary_care_unit: Unit | None
    home_care_unit: Unit | None
    admitted_at: datetime | None
    discharge_ready_at: datetime | None
    sip_due_at: datetime | None
    sip_called_at: datetime | None
    payment_days: int
    """Calendar days, up to today, after the payment threshold (0 before it, or when the
    admission and discharge-ready notices were not both sent)."""
    items: tuple[DueItem, ...]
    changes: tuple[Change, ...]
    new_since_yesterday: bool

    @property
    def due(self) -> tuple[DueItem, ...]:
        return tuple(item for item in self.items if not item.overdue)

    @property
    def overdue(self) -> tuple[DueItem, ...]:
        return tuple(item for item in self.items if item.overdue)

    @property
    def next_deadline(self) -> DueItem | None:
        """The earliest deadline not yet passed."""
        return min(self.due, key=lambda item: item.due_at, default=None)


def worklist(stays: Iterable[EpisodeFacts], rules: RuleBook, now: datetime) -> list[WorklistItem]:
    """The open stays among ``stays``, each with its due and overdue deadlines at ``now``;
    the ones with something overdue first, then by the earliest deadline."""
    items = [_item(stay, rules, now) for stay in stays if stay.state.status is EpisodeStatus.OPEN]
    return sorted(items, key=_urgency)


def _urgency(item: WorklistItem) -> tuple[int, datetime, str]:
    overdue = [due.due_at for due in item.overdue]
    upcoming = item.next_deadline
    moment = min(overdue) if overdue else upcoming.due_at if upcoming else _NEVER
    return (0 if overdue else 1, moment, item.episode_id)


def _item(stay: EpisodeFacts, rules: RuleBook, now: datetime) -> WorklistItem:
    state = stay.state
    ready = state.ready_in_effect
    ready_at = ready.notice.sent_at if ready is not None else None
    sip_due, items = None, []
    for outcome in evaluate(rules, stay, now):
        rule = outcome.rule
        if rule.anchor is Anchor.NOTICE_SENT or outcome.deadline_at is None:
            continue
        if rule.id == rules.indicators.sip_rule and outcome.subject == _subject(ready):
            sip_due = outcome.deadline_at if outcome.verdict is not Verdict.NOT_APPLICABLE else None
        if outcome.verdict not in (Verdict.PENDING, Verdict.MISSING):
            continue
        items.append(
            DueItem(
                rule_id=rule.id,
                title=rule.title,
                due_at=outcome.deadline_at,
                overdue=outcome.verdict is Verdict.MISSING,
                owner=outcome.sending_unit,
                owner_role=rule.sender.value,
            )
        )
    since = now - CHANGES_WITHIN
    changes = tuple(
        Change(notice.event, notice.sent_at)
        for notice in ordered(stay.notices)
        if since < notice.sent_at <= now
    )
    first_seen = min((notice.sent_at for notice in stay.notices), default=None)
    return WorklistItem(
        episode_id=stay.episode_id,
        patient_key=stay.patient_key,
        unit=state.unit,
        primary_care_unit=stay.primary_care_unit,
        home_care_unit=_home_care_unit(stay, now),
        admitted_at=state.admitted_at,
        discharge_ready_at=ready_at,
        sip_due_at=sip_due,
        sip_called_at=_sip_called(stay),
        payment_days=payment_days(stay, rules.indicators.payment_after_days, now),
        items=tuple(sorted(items, key=lambda item: item.due_at)),
        changes=changes,
        new_since_yesterday=first_seen is not None and first_seen > since,
    )


def _subject(ready: DischargeReady | None) -> str:
    return ready.notice.message_id if ready is not None else ""


def _sip_called(stay: EpisodeFacts) -> datetime | None:
    calls = stay.of([EventCode.SIP_MEETING_BOOKED])
    return calls[0].sent_at if calls else None


def _home_care_unit(stay: EpisodeFacts, now: datetime) -> Unit | None:
    for period in stay.home_care:
        if period.covers(now) and period.unit is not None:
            return period.unit
    return None


def payment_days(stay: EpisodeFacts, after_days: int, now: datetime) -> int:
    """Days of an open stay that count toward the municipality's payment so far: calendar days
    from the discharge-ready notice in force to today, less the threshold; none unless the
    admission and discharge-ready notices were both sent (the law's condition)."""
    state = stay.state
    ready = state.ready_in_effect
    if ready is None or state.admission is None:
        return 0
    days = (local_date(now) - local_date(ready.notice.sent_at)).days
    return max(days - after_days, 0)


def belongs_to(item: WorklistItem, units: frozenset[str]) -> bool:
    """Whether the stay is one of these units' (by HSA-id): its ward, the patient's primary
    care unit or home-care unit."""
    for unit in (item.unit, item.primary_care_unit, item.home_care_unit):
        if unit is not None and unit.hsa_id in units:
            return True
    return False
