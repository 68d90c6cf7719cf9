"""Issue 15, must show 4: the half-year's indicators equal a count made from the generator's log
alone, and the period still running is provisional in the page, the CSV and the MeasureReport
(``pending``) while a closed month is final (``complete``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from bridge.domain.indicators import IndicatorValue, Month
from bridge.domain.report_periods import HalfYear
from bridge.domain.reported_deviations import CATEGORIES
from bridge.entrypoints.http import create_app
from bridge.service.operations.users import Role, Users
from support.indicator_count import Window, count
from support.playback import month_settings, played
from support.ward_month import generate

MONTH = Month(2025, 10)
HALF = HalfYear(2025, 2)
SUMS = {"discharge-ready-days", "municipal-payment-days", "average-length-of-stay"}
PASSWORD = "synthetic-test-password"


@pytest.mark.timeout(360)  # weeks of traffic through a whole bridge
async def test_the_half_years_indicators_match_the_log_and_the_running_period_is_provisional(
    tmp_path: Path,
) -> None:
    # Given a month of two wards' traffic (with the week before and the follow-up after),
    # played through the bridge; the report is made when the traffic ends, in December
    traffic = generate(MONTH)
    settings = month_settings(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path)
    async with played(traffic, settings) as (bridge, _):
        now = bridge.clock.now()
        assert Month.of(now) > MONTH and HALF.holds(now)

        # When the bridge reports the second half of 2025
        values = await bridge.indicators.month(HALF)

        # Then every indicator counted from the log, per ward and for all, is the same
        expected = count(traffic, Window(HALF.start, HALF.end), now)
        actual = {
            (row.indicator, row.unit.key): (
                row.value if row.indicator in SUMS else row.numerator,
                row.denominator,
            )
            for row in values
            if (row.indicator, row.unit.key) in expected
        }
        assert actual == expected
        assert {key[0] for key in expected} >= {
            "admission-notice-24h",
            "sip-invitation-3d",
            "unreceipted-notices",
            "readmission-30d-65plus",
            "average-length-of-stay",
            "discharges-with-sip-plan",
        }
        # And the half-year holds more than its October (the week before is in it too)
        october = await bridge.indicators.month(MONTH)

        def stays(rows: list[IndicatorValue]) -> int | None:
            [row] = [
                r for r in rows if (r.indicator, r.unit.key) == ("average-length-of-stay", "all")
            ]
            return row.denominator

        assert (stays(values) or 0) > (stays(october) or 0) > 0

        # And deviations per category count the one combined list of the period
        entries = await bridge.reported_deviations.entries(HALF.start, HALF.end)
        assert entries
        per_category = {
            row.indicator: row.numerator
            for row in values
            if row.indicator.startswith("deviations-") and row.unit.key == "all"
        }
        assert per_category == {
            f"deviations-{category}": sum(e.category == category for e in entries)
            for category in CATEGORIES
        }

        # And the running periods are provisional, the closed month final
        assert all(row.provisional for row in values)
        assert not any(row.provisional for row in october)
        assert (await bridge.indicators.measure_report(HALF))["status"] == "pending"
        assert (await bridge.indicators.measure_report(MONTH))["status"] == "complete"
        current = Month.of(now)
        assert (await bridge.indicators.measure_report(current))["status"] == "pending"

        # And so say the page and the CSV a viewer downloads
        await Users(bridge.db, bridge.clock).add("kvalitet", PASSWORD, Role.VIEWER, actor="t")
        app = httpx.ASGITransport(app=create_app(bridge))
        async with httpx.AsyncClient(transport=app, base_url="http://bridge") as client:
            signed = await client.post(
                "/ops/api/session", json={"username": "kvalitet", "password": PASSWORD}
            )
            assert signed.status_code == 200
            page = await client.get(f"/ops/indicators?month={current}")
            assert 'id="provisional"' in page.text
            closed = await client.get(f"/ops/indicators?month={MONTH}")
            assert 'id="provisional"' not in closed.text
            half_page = await client.get(f"/ops/indicators?month={HALF}")
            assert half_page.status_code == 200 and 'id="provisional"' in half_page.text
            for period, status in (
                (current, "provisional"),
                (MONTH, "final"),
                (HALF, "provisional"),
            ):
                exported = await client.get(f"/ops/indicators.csv?month={period}")
                rows = list(csv.DictReader(io.StringIO(exported.text)))
                assert rows and {row["status"] for row in rows} == {status}, period
                assert {row["month"] for row in rows} == {str(period)}
            report = await client.get(f"/ops/api/indicators/measure-report?month={current}")
            assert report.json()["status"] == "pending"
