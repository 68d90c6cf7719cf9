"""The monthly indicators from the store: what the ops pages, the CLI and exports call.

Loads the episodes that touch a month (a notice on or after its start, begun before its end plus
the readmission window) and every home-care enrolment, and hands them to the pure
:func:`~bridge.domain.indicators.monthly_indicators`. ``now`` is the clock's: an indicator of a
month that is not over yet (or whose 30-day readmission window is not) can still change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bridge.domain.deadlines import RuleBook
from bridge.domain.indicators import IndicatorValue, Month, monthly_indicators, to_csv
from bridge.domain.measure_report import measure_report
from bridge.service.care.episodes import enrolment_periods, episode_ids_between, load_facts
from bridge.service.clock import Clock
from bridge.store.db import Database


class Indicators:
    """Indicators per month and care unit: rows, CSV, FHIR MeasureReport, a run of months."""

    def __init__(self, db: Database, clock: Clock, rules: RuleBook) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules

    async def month(self, month: Month) -> list[IndicatorValue]:
        """Every indicator of ``month``, per unit and for all units (``unit.key == "all"``)."""
        # A readmission's first notice may come a few days after the admission it announces.
        follow_up = timedelta(days=self._rules.indicators.readmission_days + 7)
        async with self._db.session() as session:
            ids = await episode_ids_between(session, month.start, month.end + follow_up)
            stays = await load_facts(session, ids)
            periods = await enrolment_periods(session)
        return monthly_indicators(stays, periods, month, self._rules, self._clock.now())

    async def months(self, last: Month, count: int = 12) -> dict[str, list[IndicatorValue]]:
        """``count`` months up to and including ``last``, oldest first (for charts)."""
        months = [last]
        while len(months) < count:
            months.insert(0, months[0].previous())
        return {str(month): await self.month(month) for month in months}

    async def csv(self, month: Month) -> str:
        return to_csv(await self.month(month))

    async def measure_report(self, month: Month) -> dict[str, Any]:
        return measure_report(await self.month(month), month, self._clock.now())

    def current_month(self) -> Month:
        return Month.of(self._clock.now())
