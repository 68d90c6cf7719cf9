"""The monthly indicators the audit found missing, per care unit. Pure.

Every indicator is counted over one calendar month in Europe/Stockholm and grouped by the care
unit it belongs to (the ward, or the home-care unit for enrolments), plus a row for all units
(:data:`ALL_UNITS`). :data:`DEFINITIONS` says what each one counts; docs/deadlines.md repeats it
for people. :func:`monthly_indicators` takes plain values (episodes, enrolment periods) and
returns :class:`IndicatorValue` rows; :func:`to_csv` and ``bridge.domain.measure_report`` write
them out.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from bridge.domain.csv_safety import safe_cell
from bridge.domain.deadlines import (
    IndicatorSettings,
    RuleBook,
    Verdict,
    evaluate,
)
from bridge.domain.episodes import (
    STOCKHOLM,
    EpisodeFacts,
    EpisodeState,
    EpisodeStatus,
    Period,
    Step,
    Unit,
    age_on,
    local_date,
    ordered,
)
from bridge.domain.model import EventCode
from bridge.domain.report_periods import Span, provisional
from bridge.domain.reported_deviations import CATEGORIES, DeviationEntry
from bridge.domain.time_range import FIRST_YEAR, LAST_YEAR

ALL_UNITS = Unit(hsa_id="all", name="All units")


class Month(NamedTuple):
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``."""
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"not a month (YYYY-MM): {text!r}") from None
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"the year must be within {FIRST_YEAR}-{LAST_YEAR}: {text!r}")
        return cls(year, month)

    @classmethod
    def of(cls, moment: datetime) -> Month:
        day = local_date(moment)
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """The first instant of the month in Sweden, in UTC (safe to subtract)."""
        local = datetime.combine(date(self.year, self.month, 1), time(), tzinfo=STOCKHOLM)
        return local.astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month (exclusive)."""
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


@dataclass(frozen=True)
class Definition:
    id: str
    title: str
    measure_unit: str
    """``%``, ``h``, ``d``, or a UCUM annotation such as ``{notice}``."""
    description: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "admission-notice-24h",
        "Admission notices delivered within 24 h",
        "%",
        "Stays admitted in the month (not cancelled): share whose admission notice reached "
        "every recipient within 24 h of admission. A missing notice counts as not in time.",
    ),
    Definition(
        "admission-notice-median-delay",
        "Median delay of admission notices",
        "h",
        "Hours from admission to delivery of the admission notice, median over the month's "
        "delivered admission notices.",
    ),
    Definition(
        "sip-invitation-3d",
        "SIP invitations within 3 days",
        "%",
        "Discharge-ready notices sent in the month for which a SIP is required (rule "
        "sip-invitation-3d applies and is decided): share with a SIP invitation in time.",
    ),
    Definition(
        "unreceipted-notices",
        "Unreceipted notices",
        "{notice}",
        "Notices sent in the month, counted per recipient that sends receipts: how many have no "
        "positive receipt (yet) at the time of the report.",
    ),
    Definition(
        "discharge-ready-days",
        "Discharge-ready days before discharge",
        "d",
        "Stays discharged in the month with a discharge-ready notice in force: calendar days "
        "from the notice to the discharge, summed.",
    ),
    Definition(
        "municipal-payment-days",
        "Days the municipality pays for",
        "d",
        "Of those days, the ones after the payment threshold (3 calendar days after the "
        "notice), counted only when the admission and discharge-ready notices were both sent.",
    ),
    Definition(
        "home-care-enrolled-treserva",
        "Home-care patients according to Treserva",
        "{patient}",
        "Patients with an enrolment in home health care reported by Treserva that overlaps "
        "the month.",
    ),
    Definition(
        "home-care-enrolled-takecare",
        "Home-care patients according to TakeCare",
        "{patient}",
        "Patients with an enrolment in home health care reported by TakeCare that overlaps "
        "the month.",
    ),
    Definition(
        "home-care-enrolled-one-system",
        "Home-care patients known to one system only",
        "{patient}",
        "Patients enrolled in the month according to one of the systems but not the other.",
    ),
    Definition(
        "readmission-30d-65plus",
        "Unplanned readmissions within 30 days, 65+",
        "%",
        "Stays of patients aged 65 or more discharged in the month: share followed by an "
        "unplanned admission of the same patient within 30 days. Unplanned: admission type "
        "(PV1-4 / Encounter.priority) emergency, urgent or accident; when the admission "
        "carries no admission type, encounter class EMER.",
    ),
)
DEFINITIONS += (
    Definition(
        "average-length-of-stay",
        "Average length of stay",
        "d",
        "Stays discharged in the period (not cancelled): mean of the days (elapsed time / 24 h) "
        "from admission to discharge.",
    ),
    Definition(
        "discharges-with-sip-plan",
        "Discharges with a SIP plan",
        "%",
        "Stays discharged in the period: share with a SIP plan established (or updated) during "
        "the stay.",
    ),
    *(
        Definition(
            f"deviations-{category}",
            f"Deviations: {english} ({swedish})",
            "{deviation}",
            f"Collaboration deviations of category {category} detected or reported in the "
            "period, automatic and reported by staff together, per responsible unit.",
        )
        for category, (swedish, english) in CATEGORIES.items()
    ),
)
DEFINITIONS += (
    Definition(
        "orders-rejected",
        "Home-care orders rejected",
        "%",
        "Home-care orders (beställning av hemsjukvård/hemtjänst) sent in the period and "
        "accepted or rejected: share the municipality rejected (docs/orders.md).",
    ),
    Definition(
        "orders-unanswered-past-deadline",
        "Home-care orders unanswered past their deadline",
        "{order}",
        "Home-care orders sent in the period that had no answer when their answer deadline "
        "passed and still have none (docs/orders.md).",
    ),
)
DEFINITION = {definition.id: definition for definition in DEFINITIONS}
COUNTED_BY_SOURCES = frozenset({"orders-rejected", "orders-unanswered-past-deadline"})
"""Indicators a plug-in source counts (``Indicators.sources``), not :func:`monthly_indicators`."""


@dataclass(frozen=True)
class IndicatorValue:
    """One indicator for one unit and month. ``value`` is None when there is nothing to count.

    Shares have ``numerator`` of ``denominator`` (value in %); sums and medians have the number
    of things counted as ``denominator`` and no numerator; patient counts only a numerator.
    """

    month: str
    unit: Unit
    indicator: str
    numerator: float | None
    denominator: int | None
    value: float | None
    provisional: bool = False
    """The period is not over: the figure can still change."""

    @property
    def definition(self) -> Definition:
        return DEFINITION[self.indicator]


@dataclass(frozen=True)
class _Item:
    """One counted thing: its unit, whether it is in the numerator, a number for sums/medians."""

    unit: Unit
    hit: bool = False
    amount: float = 0.0
    key: str = ""


def monthly_indicators(
    episodes: Iterable[EpisodeFacts],
    enrolments: Iterable[Period],
    month: Span,
    rules: RuleBook,
    now: datetime,
    deviations: Iterable[DeviationEntry] = (),
) -> list[IndicatorValue]:
    """Every indicator of :data:`DEFINITIONS` for ``month``, per unit and for all units.

    ``episodes`` must include every stay that touches the month and, for readmissions, those
    admitted up to ``readmission_days`` after it; ``enrolments`` every enrolment period.
    """
    stays = list(episodes)
    periods = list(enrolments)
    settings = rules.indicators
    values: list[IndicatorValue] = []
    values += _share(month, "admission-notice-24h", _admission_items(stays, month, settings))
    values += _median(month, "admission-notice-median-delay", _admission_delays(stays, month))
    values += _share(month, "sip-invitation-3d", _sip_items(stays, month, rules, now))
    values += _count(month, "unreceipted-notices", _receipt_items(stays, month))
    ready = list(_ready_days(stays, month, settings))
    values += _sum(month, "discharge-ready-days", [item for item, _ in ready])
    values += _sum(month, "municipal-payment-days", [item for _, item in ready if item])
    for system in ("treserva", "takecare"):
        items = _enrolled(periods, month, system)
        values += _distinct(month, f"home-care-enrolled-{system}", items)
    values += _distinct(month, "home-care-enrolled-one-system", _one_system(periods, month))
    values += _share(month, "readmission-30d-65plus", _readmissions(stays, month, settings))
    values += _mean(month, "average-length-of-stay", _lengths_of_stay(stays, month))
    values += _share(month, "discharges-with-sip-plan", _sip_plans(stays, month))
    found = [entry for entry in deviations if month.holds(entry.detected_at)]
    for category in CATEGORIES:
        counted = [
            _Item(Unit(entry.unit_hsa_id or None, entry.unit_name or None), hit=True)
            for entry in found
            if entry.category == category
        ]
        values += _count(month, f"deviations-{category}", counted)
    if provisional(month, now):
        values = [replace(value, provisional=True) for value in values]
    return values


def _admission_items(
    stays: list[EpisodeFacts], month: Span, settings: IndicatorSettings
) -> Iterator[_Item]:
    limit = timedelta(hours=settings.admission_notice_hours)
    for stay in _admitted_in(stays, month):
        state = stay.state
        assert state.admitted_at is not None
        delivered = _delivered(stay)
        hit = delivered is not None and delivered - state.admitted_at <= limit
        yield _Item(_unit(state.admitting_unit), hit)


def _admission_delays(stays: list[EpisodeFacts], month: Span) -> Iterator[_Item]:
    for stay in _admitted_in(stays, month):
        delivered = _delivered(stay)
        admitted = stay.state.admitted_at
        if delivered is not None and admitted is not None:
            hours = (delivered - admitted).total_seconds() / 3600
            yield _Item(_unit(stay.state.admitting_unit), amount=hours)


def _admitted_in(stays: list[EpisodeFacts], month: Span) -> Iterator[EpisodeFacts]:
    for stay in stays:
        state = stay.state
        if state.status is not EpisodeStatus.CANCELLED and month.holds(state.admitted_at):
            yield stay


def _delivered(stay: EpisodeFacts) -> datetime | None:
    """When the stay's admission notice first reached every recipient."""
    times = [
        done
        for notice in stay.of([EventCode.ADMISSION])
        if (done := notice.done_at(Step.DELIVERED)) is not None
    ]
    return min(times, default=None)


def _sip_items(
    stays: list[EpisodeFacts], month: Span, rules: RuleBook, now: datetime
) -> Iterator[_Item]:
    try:
        rule = rules.rule(rules.indicators.sip_rule)
    except KeyError:
        return
    single = rules.model_copy(update={"rules": (rule.model_copy(update={"enabled": True}),)})
    decided = (Verdict.MET, Verdict.LATE, Verdict.MISSING)
    for stay in stays:
        for outcome in evaluate(single, stay, now):
            if outcome.verdict in decided and month.holds(outcome.anchor_at):
                unit = _unit_at(stay, outcome.anchor_at)
                yield _Item(unit, outcome.verdict is Verdict.MET)


def _receipt_items(stays: list[EpisodeFacts], month: Span) -> Iterator[_Item]:
    for stay in stays:
        for notice in ordered(stay.notices):
            if not month.holds(notice.sent_at):
                continue
            unit = _unit(notice.unit or stay.state.unit)
            for delivery in notice.deliveries:
                if delivery.receipt_expected:
                    yield _Item(unit, delivery.receipted_at is None)


def _ready_days(
    stays: list[EpisodeFacts], month: Span, settings: IndicatorSettings
) -> Iterator[tuple[_Item, _Item | None]]:
    for stay in stays:
        state = stay.state
        ready = state.ready_in_effect
        if state.status is not EpisodeStatus.DISCHARGED or ready is None:
            continue
        if not month.holds(state.discharged_at):
            continue
        assert state.discharged_at is not None
        days = (local_date(state.discharged_at) - local_date(ready.notice.sent_at)).days
        days = max(days, 0)
        unit = _unit(state.unit)
        payable = None
        if state.admission is not None:
            payable = _Item(unit, amount=max(days - settings.payment_after_days, 0))
        yield _Item(unit, amount=days), payable


def _enrolled(periods: list[Period], month: Span, system: str) -> Iterator[_Item]:
    for period in periods:
        if period.system == system and period.overlaps(month.start, month.end):
            yield _Item(_unit(period.unit), key=period.patient_key)


def _one_system(periods: list[Period], month: Span) -> Iterator[_Item]:
    systems: dict[str, set[str]] = defaultdict(set)
    units: dict[str, Unit] = {}
    for period in periods:
        if period.system in ("treserva", "takecare") and period.overlaps(month.start, month.end):
            systems[period.patient_key].add(period.system)
            units.setdefault(period.patient_key, _unit(period.unit))
    for key, seen in systems.items():
        if len(seen) == 1:
            yield _Item(units[key], key=key)


def unplanned(state: EpisodeState, settings: IndicatorSettings) -> bool:
    """The admission type decides; without one, the encounter class does (fallback)."""
    if state.admission_type is not None:
        return state.admission_type in settings.unplanned_admission_types
    return (state.class_code or "") in settings.unplanned_classes


def _readmissions(
    stays: list[EpisodeFacts], month: Span, settings: IndicatorSettings
) -> Iterator[_Item]:
    admissions: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    for stay in stays:
        state = stay.state
        if state.status is not EpisodeStatus.CANCELLED and state.admitted_at is not None:
            admissions[stay.patient_key].append((state.admitted_at, unplanned(state, settings)))
    window = timedelta(days=settings.readmission_days)
    for stay in stays:
        state = stay.state
        discharged = state.discharged_at
        if state.status is not EpisodeStatus.DISCHARGED or not month.holds(discharged):
            continue
        assert discharged is not None
        if stay.birth_date is None:
            continue
        if age_on(stay.birth_date, local_date(discharged)) < settings.readmission_min_age:
            continue
        hit = any(
            discharged < admitted <= discharged + window and is_unplanned
            for admitted, is_unplanned in admissions[stay.patient_key]
        )
        yield _Item(_unit(state.unit), hit)


def _discharged_in(stays: list[EpisodeFacts], month: Span) -> Iterator[EpisodeFacts]:
    for stay in stays:
        state = stay.state
        if state.status is EpisodeStatus.DISCHARGED and month.holds(state.discharged_at):
            yield stay


def _lengths_of_stay(stays: list[EpisodeFacts], month: Span) -> Iterator[_Item]:
    for stay in _discharged_in(stays, month):
        state = stay.state
        if state.admitted_at is not None and state.discharged_at is not None:
            days = (state.discharged_at - state.admitted_at).total_seconds() / 86400
            yield _Item(_unit(state.unit), amount=max(days, 0.0))


SIP_PLANS = frozenset({EventCode.SIP_PLAN_ESTABLISHED, EventCode.SIP_PLAN_UPDATED})


def _sip_plans(stays: list[EpisodeFacts], month: Span) -> Iterator[_Item]:
    for stay in _discharged_in(stays, month):
        yield _Item(_unit(stay.state.unit), hit=bool(stay.of(SIP_PLANS)))


def _unit(unit: Unit | None) -> Unit:
    return unit or Unit(name="unknown")


def _unit_at(stay: EpisodeFacts, moment: datetime | None) -> Unit:
    """The ward the patient was on at ``moment`` (the last notice naming one by then)."""
    unit = stay.state.admitting_unit
    for notice in ordered(stay.notices):
        if moment is not None and notice.sent_at > moment:
            break
        unit = notice.unit or unit
    return _unit(unit)


def _grouped(items: Iterable[_Item]) -> list[tuple[Unit, list[_Item]]]:
    """Items per unit (sorted by unit key), then every item under :data:`ALL_UNITS`."""
    groups: dict[str, list[_Item]] = defaultdict(list)
    names: dict[str, Unit] = {}
    everything: list[_Item] = []
    for item in items:
        groups[item.unit.key].append(item)
        names.setdefault(item.unit.key, item.unit)
        everything.append(item)
    return [(names[key], groups[key]) for key in sorted(groups)] + [(ALL_UNITS, everything)]


def _share(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        hits = sum(item.hit for item in group)
        value = round(100 * hits / len(group), 1) if group else None
        rows.append(IndicatorValue(str(month), unit, indicator, hits, len(group), value))
    return rows


def _count(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        hits = sum(item.hit for item in group)
        rows.append(IndicatorValue(str(month), unit, indicator, hits, len(group), float(hits)))
    return rows


def _sum(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        total = sum(item.amount for item in group)
        rows.append(IndicatorValue(str(month), unit, indicator, None, len(group), total))
    return rows


def _median(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        amounts = [item.amount for item in group]
        value = round(statistics.median(amounts), 2) if amounts else None
        rows.append(IndicatorValue(str(month), unit, indicator, None, len(group), value))
    return rows


def _mean(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        amounts = [item.amount for item in group]
        value = round(statistics.fmean(amounts), 2) if amounts else None
        rows.append(IndicatorValue(str(month), unit, indicator, None, len(group), value))
    return rows


def _distinct(month: Span, indicator: str, items: Iterable[_Item]) -> list[IndicatorValue]:
    rows = []
    for unit, group in _grouped(items):
        patients = len({item.key for item in group})
        rows.append(IndicatorValue(str(month), unit, indicator, patients, None, float(patients)))
    return rows


CSV_COLUMNS = (
    "month",
    "unit",
    "unit_name",
    "indicator",
    "title",
    "numerator",
    "denominator",
    "value",
    "measure_unit",
    "status",
)


def to_csv(values: Iterable[IndicatorValue]) -> str:
    """One row per indicator, unit and month; numbers with a point, empty when there are none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in values:
        writer.writerow(
            [
                row.month,
                safe_cell(row.unit.key),
                safe_cell(row.unit.name or ""),
                safe_cell(row.indicator),
                safe_cell(row.definition.title),
                _number(row.numerator),
                _number(row.denominator),
                _number(row.value),
                safe_cell(row.definition.measure_unit),
                "provisional" if row.provisional else "final",
            ]
        )
    return out.getvalue()


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
