"""Issue 15, must show 1: a coordinator signs in and sees the open stays of two wards, played
through the bridge for most of a month, with exactly the due and overdue deadlines an
independent count from the generator's log gives; a viewer without the role sees nobody.

Screenshot: ``coordinator-worklist.png`` (docs/screenshots with
``BRIDGE_SCREENSHOT_DIR=docs/screenshots``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bridge.bootstrap import Bridge
from bridge.domain.episodes import STOCKHOLM
from bridge.domain.indicators import Month
from bridge.entrypoints.runner import running_bridge
from bridge.service.operations.users import Role, Users
from bridge.store.tables import AuditRow
from support.playback import ManualClock, month_settings, played
from support.ward_month import VARDCENTRALER, WARDS, generate
from support.worklist_count import open_stays

MONTH = Month(2025, 10)
CUT = datetime(2025, 10, 16, 9, 30, tzinfo=STOCKHOLM)
PASSWORD = "synthetic-test-password"
LAPTOP = {"width": 1500, "height": 1000}
MEDICINE = WARDS[0].hsa_id or ""


def organisations_file(path: Path) -> Path:
    units = [
        {"hsa_id": unit.hsa_id, "name": unit.name, "inbox": "quality"}
        for unit in (*WARDS, *VARDCENTRALER)
    ]
    table = {
        "organisations": [
            {"id": "region-gotland-hsf", "name": "Region Gotland, HSF", "units": units},
            {"id": "elsewhere", "name": "Another region", "units": [{"hsa_id": "SE0-X"}]},
        ]
    }
    path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.timeout(360)  # weeks of traffic through a whole bridge
async def test_a_coordinator_sees_due_and_overdue_work_as_the_generators_log_says(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    # Given two wards' traffic played up to 16 October 09:30, and the log's own count
    traffic = generate(MONTH, admissions=90)
    settings = month_settings(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path)
    settings = settings.model_copy(
        update={"care_organisations_file": organisations_file(tmp_path / "organisations.yaml")}
    )
    expected = open_stays(traffic, CUT)
    assert sum(len(stay.due) for stay in expected.values()) >= 2, "some work is due"
    assert sum(len(stay.overdue) for stay in expected.values()) >= 2, "some work is overdue"
    assert any(stay.payment_days for stay in expected.values()), "the municipality pays"
    async with played(traffic, settings, until=CUT):
        pass

    clock = ManualClock(CUT)
    async with running_bridge(settings, bridge=Bridge(settings, clock=clock)) as running:
        bridge = running.bridge
        users = Users(bridge.db, clock)
        await users.add("samordnare", PASSWORD, Role.COORDINATOR, actor="test")
        await users.add("avd5", PASSWORD, Role.COORDINATOR, actor="test")
        await users.add("tittare", PASSWORD, Role.VIEWER, actor="test")
        await bridge.worklist.bind("samordnare", "region-gotland-hsf", (), actor="test")
        await bridge.worklist.bind("avd5", "region-gotland-hsf", (MEDICINE,), actor="test")

        # When the coordinator signs in and opens the worklist
        page = await browser.new_page(viewport=LAPTOP)
        await _sign_in(page, running.base_url, "samordnare")
        await page.locator("#worklist-table").wait_for()
        await page.screenshot(path=str(screenshots / "coordinator-worklist.png"), full_page=True)
        shown = await _rows(page)

        # Then every open stay is there, identified, with the log's due and overdue deadlines
        by_person = {stay.personnummer: stay for stay in expected.values()}
        assert len(by_person) == len(expected)
        assert {row["pnr"] for row in shown} == set(by_person)
        for row in shown:
            stay = by_person[row["pnr"]]
            assert row["unit"] == stay.ward
            assert set(row["overdue"]) == stay.overdue, row
            assert int(row["dueCount"]) == len(stay.due), row
            assert int(row["payment"]) == stay.payment_days, row
            assert row["name"]
        assert await page.text_content("#count-overdue") == str(
            sum(len(stay.overdue) for stay in expected.values())
        )
        assert await page.text_content("#count-due") == str(
            sum(len(stay.due) for stay in expected.values())
        )
        assert "Dagens arbete" in (await page.text_content("h1") or "")

        # And the JSON beside it says the same, due rule by rule
        api = await page.request.get(f"{running.base_url}/ops/api/worklist")
        stays = (await api.json())["stays"]
        assert {s["patient"]["personnummer"]: {d["rule"] for d in s["due"]} for s in stays} == {
            pnr: stay.due for pnr, stay in by_person.items()
        }
        tasks = await page.request.get(f"{running.base_url}/ops/api/worklist/fhir/Task")
        bundle = await tasks.json()
        assert bundle["total"] == sum(len(s.due) + len(s.overdue) for s in expected.values())

        # And the unit filter keeps one ward
        await page.select_option("#unit-filter", MEDICINE)
        await page.click("form.filters button")
        await page.wait_for_url("**unit=*")
        medicine = await _rows(page)
        assert {row["pnr"] for row in medicine} == {
            s.personnummer for s in expected.values() if s.ward == MEDICINE
        }

        # And a coordinator bound to that ward alone sees only its stays
        ward_page = await browser.new_page(viewport=LAPTOP)
        await _sign_in(ward_page, running.base_url, "avd5")
        assert {row["pnr"] for row in await _rows(ward_page)} == {row["pnr"] for row in medicine}

        # And a viewer without the role sees nobody identified, on the page or in the API
        viewer = await browser.new_page(viewport=LAPTOP)
        response = await _sign_in(viewer, running.base_url, "tittare")
        assert response is not None and response.status == 403
        body = await viewer.content()
        refused = await viewer.request.get(f"{running.base_url}/ops/api/worklist")
        assert refused.status == 403
        fhir = await viewer.request.get(f"{running.base_url}/ops/api/worklist/fhir/Task")
        assert fhir.status == 403
        for stay in expected.values():
            assert stay.personnummer not in body
            assert stay.personnummer not in await refused.text()

        # And every read was audited with who read it
        async with bridge.db.session() as session:
            reads = (
                await session.scalars(select(AuditRow).where(AuditRow.action == "worklist_read"))
            ).all()
        assert {row.actor for row in reads} == {"samordnare", "avd5"}
        assert len(reads) >= 5


async def _sign_in(page: Any, base_url: str, username: str) -> Any:
    await page.goto(f"{base_url}/ops/worklist")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation(url="**/ops/worklist") as navigation:
        await page.click("button:has-text('Sign in')")
    return await navigation.value


async def _rows(page: Any) -> list[dict[str, Any]]:
    return list(
        await page.locator("#worklist-table tbody tr[data-episode]").evaluate_all(
            """rows => rows.map(r => ({
                pnr: r.querySelector('.pnr').textContent.trim(),
                name: r.querySelector('.name').textContent.trim(),
                unit: r.dataset.unit,
                dueCount: r.dataset.due,
                payment: r.querySelector('td.num').textContent.trim(),
                overdue: [...r.querySelectorAll('td.overdue [data-rule]')].map(
                    d => d.dataset.rule),
            }))"""
        )
    )
