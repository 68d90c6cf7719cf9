"""Issue 6, must show 4: the indicator page renders in headless Chromium with its charts, and the
CSV it offers opens with the same figures as the page (and as the service).

Screenshots: ``ops-indicators.png`` and ``ops-deviations.png`` (docs/screenshots when run with
``BRIDGE_SCREENSHOT_DIR=docs/screenshots``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from bridge.bootstrap import Bridge
from bridge.domain.indicators import ALL_UNITS, Month
from bridge.entrypoints.runner import running_bridge
from bridge.service.operations.users import Role, Users
from support.playback import ManualClock, month_settings, played
from support.ward_month import generate

MONTH = Month(2025, 10)
PASSWORD = "synthetic-test-password"
LAPTOP = {"width": 1366, "height": 900}


async def test_the_indicator_page_draws_its_charts_and_its_csv_has_the_same_figures(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    # Given a month of two wards' traffic in the bridge's database, and a signed-in user
    traffic = generate(MONTH, admissions=50)
    settings = month_settings(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path)
    async with played(traffic, settings):
        pass
    clock = ManualClock(traffic.ends_at)
    async with running_bridge(settings, bridge=Bridge(settings, clock=clock)) as bridge:
        await Users(bridge.bridge.db, clock).add("kvalitet", PASSWORD, Role.OPERATOR, actor="test")
        expected = await bridge.bridge.indicators.month(MONTH)
        page = await browser.new_page(viewport=LAPTOP, accept_downloads=True)
        await page.goto(f"{bridge.base_url}/ops/indicators?month={MONTH}")
        await page.fill("input[name=username]", "kvalitet")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button:has-text('Sign in')")

        # When they open the month's indicators (sign-in returns to the path, never a query)
        await page.wait_for_url(f"{bridge.base_url}/ops/indicators")
        await page.goto(f"{bridge.base_url}/ops/indicators?month={MONTH}")
        await page.locator("svg.chart").first.wait_for()

        # Then the charts are drawn: bars per ward and a trend line, no external asset
        assert await page.locator("svg.chart").count() == 5
        assert await page.locator("svg.chart rect.bar").count() >= 9
        assert await page.locator("svg.chart polyline").count() >= 1
        widths = await page.locator("svg.chart rect.bar").evaluate_all(
            "bars => bars.map(b => b.getBBox().width)"
        )
        assert any(width > 50 for width in widths)
        await page.screenshot(path=str(screenshots / "ops-indicators.png"), full_page=True)
        shown = await _table(page)

        # And the CSV it offers has the same figures as the page and the service
        async with page.expect_download() as waiting:
            await page.click("#csv")
        download = await waiting.value
        saved = tmp_path / "indicators.csv"
        await download.save_as(str(saved))
        rows = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8"))))
        assert len(rows) == len(expected)
        for row, value in zip(rows, expected, strict=True):
            assert (row["indicator"], row["unit"]) == (value.indicator, value.unit.key)
            assert row["value"] == _number(value.value)
            assert shown[(row["indicator"], row["unit"])] == _shown(row)
        assert {row["unit"] for row in rows} >= {ALL_UNITS.key, "SE2321000222-7M05"}

        # And the deviations found in the month are listed for quality staff
        await page.click("nav >> text=Deviations")
        await page.locator("#deviation-table tbody tr[data-deviation]").first.wait_for()
        await page.screenshot(path=str(screenshots / "ops-deviations.png"))


async def _table(page: Any) -> dict[tuple[str, str], str]:
    """What the page's table shows, per (indicator, unit)."""
    cells = await page.locator("#indicator-table tbody td[data-unit]").evaluate_all(
        """cells => cells.map(c => [c.closest('tr').dataset.indicator, c.dataset.unit,
                                   c.querySelector('.v').textContent])"""
    )
    return {(indicator, unit): text for indicator, unit, text in cells}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(row: dict[str, str]) -> str:
    """How the page writes a CSV row's value: the number and its unit (counts bare)."""
    if not row["value"]:
        return "—"
    unit = row["measure_unit"]
    return row["value"] if unit.startswith("{") else f"{row['value']} {unit}"
