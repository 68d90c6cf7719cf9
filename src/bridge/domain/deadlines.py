"""The law's deadlines as data, and their evaluation on one care episode. Pure.

A :class:`DeadlineRule` says: from an *anchor* moment of the stay (admitted, a discharge-ready
notice sent, discharged, or any notice sent), notices of these kinds must reach a *step* (sent by
the hospital, delivered to, or receipted by every recipient) *within* a time. Times are counted
in Europe/Stockholm: ``hours`` are elapsed hours (24 h across a daylight-saving change is still
24 h), ``days`` are calendar days at the same local clock time, ``end_of_day`` runs to the end of
that local day. The defaults (:data:`DEFAULT_RULES`) come from Lag (2017:612) as DOMAIN.md
gives it; a rules file overrides them (``bridge.service.care.deviations.load_rule_book``).

:func:`evaluate` answers, at a given ``now``, for every rule: met, late (and by how much),
missing (the deadline passed, nothing came), pending, withdrawn or cancelled (the anchor was
undone before the deadline), or not applicable. A late or missing outcome is a collaboration
deviation (avvikelse i samverkan).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.domain.episodes import (
    SIP_INVITATIONS,
    STOCKHOLM,
    EpisodeFacts,
    EpisodeStatus,
    Notice,
    Step,
    Unit,
    ordered,
)
from bridge.domain.model import EventCode


class Anchor(StrEnum):
    """The moment a deadline is counted from."""

    ADMITTED = "admitted"
    DISCHARGE_READY = "discharge-ready"
    DISCHARGED = "discharged"
    NOTICE_SENT = "notice-sent"


class Condition(StrEnum):
    """When a rule applies only to some stays: any one of a rule's conditions suffices."""

    HOME_CARE_PATIENT = "home-care-patient"
    """Enrolled in home health care (either system) at the anchor: the municipality gives
    health care, the region primary care."""
    MUNICIPAL_NEED = "municipal-need"
    """A known municipal need at the anchor: enrolled in home health care, or a notice of the
    stay sent by then carries a care needs assessment (the admission notice's
    "care-needs-assessment", what the content check looks at)."""
    SIP_BOTH_PARTIES = "sip-both-parties"
    """A SIP meeting or plan of the stay names participants or interventions of both the region
    and the municipality."""


class Responsible(StrEnum):
    """Who answers for a miss: the sending unit, the receiving unit, or decided per case."""

    AUTO = "auto"
    SENDER = "sender"
    RECEIVER = "receiver"


class SenderKind(StrEnum):
    """Who sends the notices a rule is about: the ward, or the patient's primary care unit (the
    fast vårdkontakt, who calls the SIP)."""

    WARD = "ward"
    PRIMARY_CARE = "primary-care"


class Within(BaseModel):
    """How long after the anchor: ``hours`` elapsed, ``days`` calendar days, ``end_of_day``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hours: float | None = Field(default=None, ge=0)
    days: int | None = Field(default=None, ge=0)
    end_of_day: bool = False

    @model_validator(mode="after")
    def _something(self) -> Within:
        if self.hours is None and self.days is None and not self.end_of_day:
            raise ValueError("give hours, days or end_of_day")
        return self

    def deadline(self, anchor: datetime) -> datetime:
        """The deadline (in UTC): done at or before it is in time. ``end_of_day`` gives the
        following local midnight (a notice at 00:00:00.000000 still counts as on the day)."""
        moment = anchor.astimezone(UTC)
        if self.days:
            local = anchor.astimezone(STOCKHOLM).replace(tzinfo=None) + timedelta(days=self.days)
            moment = local.replace(tzinfo=STOCKHOLM).astimezone(UTC)
        if self.hours:
            moment = moment + timedelta(hours=self.hours)
        if self.end_of_day:
            day = moment.astimezone(STOCKHOLM).date() + timedelta(days=1)
            moment = datetime.combine(day, time(), tzinfo=STOCKHOLM).astimezone(UTC)
        return moment

    def describe(self) -> str:
        parts = []
        if self.days:
            parts.append(f"{self.days} day(s)")
        if self.hours:
            parts.append(f"{self.hours:g} h")
        text = " + ".join(parts) or "the same moment"
        return f"{text}, to the end of that day" if self.end_of_day else text


class DeadlineRule(BaseModel):
    """One deadline: from ``anchor``, notices of kinds ``notices`` reach ``step`` ``within``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    title: str
    law: str = ""
    category: str = Field(default="information-transfer", pattern=r"^[a-z][a-z0-9-]{0,62}$")
    anchor: Anchor
    notices: tuple[EventCode, ...] = ()
    step: Step
    within: Within
    applies_when: tuple[Condition, ...] = ()
    responsible: Responsible = Responsible.AUTO
    sender: SenderKind = SenderKind.WARD
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> DeadlineRule:
        if not self.notices and self.anchor is not Anchor.NOTICE_SENT:
            raise ValueError("name the notices (only a notice-sent rule may cover every notice)")
        if self.anchor is Anchor.NOTICE_SENT and self.step is Step.SENT:
            raise ValueError("a notice-sent rule needs step delivered or receipted")
        return self


class IndicatorSettings(BaseModel):
    """The thresholds the monthly indicators count with (``bridge.domain.indicators``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admission_notice_hours: float = Field(default=24, gt=0)
    payment_after_days: int = Field(
        default=3,
        ge=0,
        description="Calendar days after the discharge-ready notice before "
        "the municipality pays (no regional agreement).",
    )
    readmission_days: int = Field(default=30, ge=1)
    readmission_min_age: int = Field(default=65, ge=0)
    unplanned_admission_types: tuple[str, ...] = Field(
        default=("emergency", "urgent", "accident"),
        description="Admission types (PV1-4 / Encounter.priority) that make an admission "
        "unplanned.",
    )
    unplanned_classes: tuple[str, ...] = Field(
        default=("EMER",),
        description="Fallback when an admission has no admission type: encounter classes "
        "that make it unplanned.",
    )
    sip_rule: str = "sip-invitation-3d"


class RuleBook(BaseModel):
    """The rules in force, the indicator settings, and how long a stay is watched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[DeadlineRule, ...]
    indicators: IndicatorSettings = IndicatorSettings()
    watch_days: int = Field(default=60, ge=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleBook:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ValueError(f"rule ids used more than once: {', '.join(duplicates)}")
        return self

    @property
    def enabled(self) -> tuple[DeadlineRule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def rule(self, rule_id: str) -> DeadlineRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


LAW = "Lag (2017:612) om samverkan vid utskrivning från sluten hälso- och sjukvård"

DEFAULT_RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(
        id="admission-notice-24h",
        title="Admission notice (inskrivningsmeddelande) delivered and receipted within 24 h "
        "of admission",
        law=LAW,
        anchor=Anchor.ADMITTED,
        notices=(EventCode.ADMISSION,),
        step=Step.RECEIPTED,
        within=Within(hours=24),
    ),
    DeadlineRule(
        id="discharge-ready-before-discharge",
        title="Discharge-ready notice (underrättelse om utskrivningsklar) sent before discharge",
        law=LAW,
        anchor=Anchor.DISCHARGED,
        notices=(EventCode.DISCHARGE_READY,),
        step=Step.SENT,
        within=Within(hours=0),
    ),
    DeadlineRule(
        id="sip-invitation-3d",
        title="SIP invitation (kallelse till SIP) within 3 days of the discharge-ready notice",
        law=LAW,
        category="coordinated-planning",
        anchor=Anchor.DISCHARGE_READY,
        notices=tuple(sorted(SIP_INVITATIONS)),
        step=Step.SENT,
        within=Within(days=3),
        applies_when=(Condition.MUNICIPAL_NEED, Condition.SIP_BOTH_PARTIES),
        sender=SenderKind.PRIMARY_CARE,
    ),
    DeadlineRule(
        id="discharge-notice-same-day",
        title="Discharge notice (utskrivningsmeddelande) delivered no later than the day of "
        "discharge",
        law=LAW,
        anchor=Anchor.DISCHARGED,
        notices=(EventCode.DISCHARGE,),
        step=Step.DELIVERED,
        within=Within(days=0, end_of_day=True),
    ),
    DeadlineRule(
        id="notice-receipted",
        title="Every notice receipted by its recipient within 4 h of being sent",
        law="ARCHITECTURE.md guarantee 7 (receipts)",
        anchor=Anchor.NOTICE_SENT,
        step=Step.RECEIPTED,
        within=Within(hours=4),
        responsible=Responsible.RECEIVER,
    ),
)

DEFAULT_RULE_BOOK = RuleBook(rules=DEFAULT_RULES)


def merge_rule_book(data: dict[str, Any] | None, base: RuleBook = DEFAULT_RULE_BOOK) -> RuleBook:
    """Apply a rules file's content to ``base``: a rule whose id exists overrides the fields it
    names (``enabled: false`` switches it off), a new id adds a rule; ``indicators`` and
    ``watch_days`` override theirs. Raises pydantic's ``ValidationError`` on a wrong field."""
    data = data or {}
    unknown = set(data) - {"rules", "indicators", "watch_days"}
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(sorted(unknown))}")
    rules = {rule.id: rule.model_dump() for rule in base.rules}
    for entry in data.get("rules") or []:
        if not isinstance(entry, dict) or "id" not in entry:
            raise ValueError("every rule needs an id")
        rules[entry["id"]] = {**rules.get(entry["id"], {}), **entry}
    indicators = {**base.indicators.model_dump(), **(data.get("indicators") or {})}
    return RuleBook.model_validate(
        {
            "rules": list(rules.values()),
            "indicators": indicators,
            "watch_days": data.get("watch_days", base.watch_days),
        }
    )


class Verdict(StrEnum):
    PENDING = "pending"
    MET = "met"
    LATE = "late"
    MISSING = "missing"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    NOT_APPLICABLE = "not-applicable"


DEVIATIONS = frozenset({Verdict.LATE, Verdict.MISSING})
FINAL = frozenset({Verdict.MET, Verdict.LATE, Verdict.CANCELLED, Verdict.WITHDRAWN})


@dataclass(frozen=True)
class Outcome:
    """One rule on one episode (and, for a notice-sent rule, one notice and recipient)."""

    rule: DeadlineRule
    verdict: Verdict
    subject: str = ""
    anchor_at: datetime | None = None
    deadline_at: datetime | None = None
    done_at: datetime | None = None
    late_by: timedelta | None = None
    failed_step: Step | None = None
    responsible: Responsible | None = None
    notice: Notice | None = None
    sending_unit: Unit | None = None
    receivers: tuple[str, ...] = ()

    @property
    def is_deviation(self) -> bool:
        return self.verdict in DEVIATIONS


@dataclass(frozen=True)
class _Clock:
    """One anchor of a rule: when it started, when (if ever) it was undone, and how."""

    at: datetime
    subject: str = ""
    ended_at: datetime | None = None
    ended_as: Verdict = Verdict.CANCELLED


def evaluate(rules: RuleBook, facts: EpisodeFacts, now: datetime) -> list[Outcome]:
    """Every enabled rule's outcome(s) on this episode at ``now``."""
    outcomes: list[Outcome] = []
    for rule in rules.enabled:
        if rule.anchor is Anchor.NOTICE_SENT:
            outcomes.extend(_per_notice(rule, facts, now))
        else:
            outcomes.extend(_per_episode(rule, facts, now))
    return outcomes


def _per_episode(rule: DeadlineRule, facts: EpisodeFacts, now: datetime) -> list[Outcome]:
    clocks = _clocks(rule, facts)
    if not clocks:
        verdict = Verdict.PENDING
        if facts.state.status is EpisodeStatus.CANCELLED:
            verdict = Verdict.CANCELLED
        return [Outcome(rule, verdict, sending_unit=_sender(rule, facts, None))]
    targets = _in_force(facts, facts.of(rule.notices))
    results = []
    for clock in clocks:
        if rule.applies_when and not _applies(rule, facts, clock.at):
            results.append(Outcome(rule, Verdict.NOT_APPLICABLE, clock.subject, clock.at))
            continue
        done, notice = _first_done(targets, rule.step)
        results.append(_judge(rule, facts, clock, done, notice or _first(targets), now))
    return results


def _per_notice(rule: DeadlineRule, facts: EpisodeFacts, now: datetime) -> list[Outcome]:
    results = []
    for notice in ordered(facts.notices):
        if rule.notices and notice.event not in rule.notices:
            continue
        for delivery in notice.deliveries:
            single = Notice(
                message_id=notice.message_id,
                event=notice.event,
                sent_at=notice.sent_at,
                unit=notice.unit,
                deliveries=(delivery,),
            )
            clock = _Clock(notice.sent_at, f"{notice.message_id}/{delivery.destination}")
            results.append(_judge(rule, facts, clock, single.done_at(rule.step), single, now))
    return results


def _clocks(rule: DeadlineRule, facts: EpisodeFacts) -> list[_Clock]:
    state = facts.state
    cancelled = state.cancelled_at
    if rule.anchor is Anchor.ADMITTED:
        at = state.admitted_at
        return [] if at is None else [_Clock(at, ended_at=cancelled)]
    if rule.anchor is Anchor.DISCHARGED:
        at = state.discharged_at
        return [] if at is None else [_Clock(at, ended_at=cancelled)]
    clocks = []
    for ready in state.discharge_ready:
        ended, how = ready.withdrawn_at, Verdict.WITHDRAWN
        if cancelled is not None and (ended is None or cancelled < ended):
            ended, how = cancelled, Verdict.CANCELLED
        clocks.append(_Clock(ready.notice.sent_at, ready.notice.message_id, ended, how))
    return clocks


def _in_force(facts: EpisodeFacts, notices: list[Notice]) -> list[Notice]:
    """Leave out discharge-ready notices that were withdrawn: they no longer say anything."""
    withdrawn = {
        ready.notice.message_id
        for ready in facts.state.discharge_ready
        if ready.withdrawn_at is not None
    }
    return [notice for notice in notices if notice.message_id not in withdrawn]


def _applies(rule: DeadlineRule, facts: EpisodeFacts, at: datetime) -> bool:
    for condition in rule.applies_when:
        if condition is Condition.HOME_CARE_PATIENT and facts.home_care_at(at):
            return True
        if condition is Condition.MUNICIPAL_NEED and facts.municipal_need_at(at):
            return True
        if condition is Condition.SIP_BOTH_PARTIES and {"region", "municipality"} <= set(
            facts.state.parties
        ):
            return True
    return False


def _first_done(notices: list[Notice], step: Step) -> tuple[datetime | None, Notice | None]:
    """The earliest moment any of the notices reached ``step``, and that notice."""
    best: tuple[datetime | None, Notice | None] = (None, None)
    for notice in notices:
        done = notice.done_at(step)
        if done is not None and (best[0] is None or done < best[0]):
            best = (done, notice)
    return best


def _first(notices: list[Notice]) -> Notice | None:
    return notices[0] if notices else None


def _judge(
    rule: DeadlineRule,
    facts: EpisodeFacts,
    clock: _Clock,
    done: datetime | None,
    notice: Notice | None,
    now: datetime,
) -> Outcome:
    deadline = rule.within.deadline(clock.at)
    outcome = Outcome(
        rule,
        Verdict.PENDING,
        subject=clock.subject,
        anchor_at=clock.at,
        deadline_at=deadline,
        done_at=done,
        notice=notice,
        sending_unit=_sender(rule, facts, notice),
        receivers=_receivers(notice, facts),
    )
    if done is not None and done <= deadline:
        return replace(outcome, verdict=Verdict.MET)
    if clock.ended_at is not None and clock.ended_at <= deadline:
        return replace(outcome, verdict=clock.ended_as)
    if done is None and now <= deadline:
        return outcome
    if done is not None:
        verdict, late_by = Verdict.LATE, done - deadline
    else:
        now = now.astimezone(UTC)
        stop = min(now, clock.ended_at) if clock.ended_at is not None else now
        verdict, late_by = Verdict.MISSING, stop - deadline
    step = _failed_step(rule, notice, deadline)
    return replace(
        outcome,
        verdict=verdict,
        late_by=late_by,
        failed_step=step,
        responsible=_responsible(rule, step),
    )


def _failed_step(rule: DeadlineRule, notice: Notice | None, deadline: datetime) -> Step:
    """The first step, up to the rule's, that was not done by the deadline."""
    if notice is None:
        return Step.SENT
    for step in Step:
        done = notice.done_at(step)
        if done is None or done > deadline:
            return step
        if step is rule.step:
            break
    return rule.step


def _responsible(rule: DeadlineRule, step: Step) -> Responsible:
    if rule.responsible is not Responsible.AUTO:
        return rule.responsible
    return Responsible.SENDER if step is Step.SENT else Responsible.RECEIVER


def _sender(rule: DeadlineRule, facts: EpisodeFacts, notice: Notice | None) -> Unit | None:
    """Who sends the rule's notices: the patient's primary care unit for SIP invitations (the
    fast vårdkontakt), else the ward the notice names, else the stay's ward."""
    if rule.sender is SenderKind.PRIMARY_CARE and facts.primary_care_unit is not None:
        return facts.primary_care_unit
    if notice is not None and notice.unit is not None:
        return notice.unit
    return facts.state.unit


def _receivers(notice: Notice | None, facts: EpisodeFacts) -> tuple[str, ...]:
    if notice is not None and notice.deliveries:
        return tuple(delivery.destination for delivery in notice.deliveries)
    return facts.receivers


def settled(outcomes: list[Outcome]) -> bool:
    """Nothing left to watch: every outcome final (a late receipt can still turn a missing one
    into a late one, a new notice a pending one into anything)."""
    return all(outcome.verdict in FINAL for outcome in outcomes)
