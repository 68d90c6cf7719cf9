"""The monthly indicators from the store: what the ops pages, the CLI and exports call.

Loads the episodes that touch a month (a notice on or after its start, begun before its end plus
the readmission window) and every home-care enrolment, and hands them to the pure
:func:`~bridge.domain.indicators.monthly_indicators`. ``now`` is the clock's: an indicator of a
month that is not over yet (or whose 30-day readmission window is not) can still change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bridge.domain.deadlines import RuleBook
from bridge.domain.indicators import IndicatorValue, Month, monthly_indicators, to_csv
from bridge.domain.measure_report import measure_report
from bridge.domain.report_periods import Span
from bridge.domain.reported_deviations import DeviationEntry
from bridge.service.care.episodes import enrolment_periods, episode_ids_between, load_facts
from bridge.service.clock import Clock
from bridge.store.db import Database

IndicatorSource = Callable[[Span, datetime], Awaitable[list[IndicatorValue]]]
"""More indicator rows for a period at ``now`` (e.g. the home-care orders' counts), each with
its :class:`~bridge.domain.indicators.Definition` added to ``DEFINITIONS``."""
DeviationSource = Callable[[datetime, datetime], Awaitable[list[DeviationEntry]]]


class Indicators:
    """Indicators per period (month, half-year, year) and care unit: rows, CSV, FHIR
    MeasureReport, a run of periods."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: RuleBook,
        deviations: DeviationSource | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._deviations = deviations
        self.sources: list[IndicatorSource] = []
        """Plug-in point: home-care order indicators (unanswered, rejected orders) register
        their counting function here (``bridge.indicators.sources.append(fn)``)."""

    async def month(self, month: Span) -> list[IndicatorValue]:
        """Every indicator of the period (a month, half-year or year), per unit and for all
        units (``unit.key == "all"``)."""
        # A readmission's first notice may come a few days after the admission it announces.
        follow_up = timedelta(days=self._rules.indicators.readmission_days + 7)
        now = self._clock.now()
        async with self._db.session() as session:
            ids = await episode_ids_between(session, month.start, month.end + follow_up)
            stays = await load_facts(session, ids)
            periods = await enrolment_periods(session)
        found = await self._deviations(month.start, month.end) if self._deviations else []
        values = monthly_indicators(stays, periods, month, self._rules, now, found)
        for source in self.sources:
            values += await source(month, now)
        return values

    async def months(self, last: Any, count: int = 12) -> dict[str, list[IndicatorValue]]:
        """``count`` months up to and including ``last``, oldest first (for charts)."""
        months = [last]
        while len(months) < count:
            months.insert(0, months[0].previous())
        return {str(month): await self.month(month) for month in months}

    async def csv(self, month: Span) -> str:
        return to_csv(await self.month(month))

    async def measure_report(self, month: Span) -> dict[str, Any]:
        return measure_report(await self.month(month), month, self._clock.now())

    def current_month(self) -> Month:
        return Month.of(self._clock.now())
