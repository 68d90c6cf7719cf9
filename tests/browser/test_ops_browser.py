"""Issue 5, in a real browser: an operator signs in, finds a dead-lettered notice, replays it
and sees it delivered; a viewer sees the same and cannot replay. Fixtures: conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from services import wait_until
from sqlalchemy import func, select

from bridge.config import Settings
from bridge.domain.identifiers import mask
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.operations.users import Role, Users
from bridge.store.tables import DeliveryRow
from takecare_sim import send_admissions
from treserva_sim.server import RunningTreserva, running

PASSWORD = "synthetic-test-password"
LAPTOP = {"width": 1366, "height": 900}


@dataclass
class Scene:
    bridge: RunningBridge
    treserva: RunningTreserva
    dead_patient: str  # the personnummer of the notice that went to the dead letters

    @property
    def url(self) -> str:
        return self.bridge.base_url


async def set_faults(treserva: RunningTreserva, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def count(bridge: RunningBridge, status: str) -> int:
    async with bridge.bridge.db.session() as session:
        found = await session.scalar(select(func.count()).where(DeliveryRow.status == status))
    return int(found or 0)


@contextlib.asynccontextmanager
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    """A bridge that delivered six admissions and dead-lettered a seventh (Treserva down)."""
    async with running(port=0) as treserva:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
            treserva_url=f"{treserva.base_url}/fhir",
            http_port=0,
            mllp_port=0,
            relay_interval_seconds=0.05,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.2,
            max_age_seconds=1.0,
        )
        async with running_bridge(settings) as bridge:
            users = Users(bridge.bridge.db, bridge.bridge.clock)
            await users.add("olivia", PASSWORD, Role.OPERATOR, actor="test")
            await users.add("viktor", PASSWORD, Role.VIEWER, actor="test")
            port = bridge.mllp_port
            await send_admissions(port=port, count=6, rate_per_s=100, seed=7)
            await wait_until(lambda: _is(bridge, "delivered", 6), within=20, what="delivered")
            await set_faults(treserva, outage=True)
            [dead] = await send_admissions(port=port, count=1, seed=11)
            await wait_until(lambda: _is(bridge, "dead", 1), within=20, what="dead letter")
            yield Scene(bridge, treserva, dead.patient_identifier)


async def _is(bridge: RunningBridge, status: str, expected: int) -> bool:
    return await count(bridge, status) == expected


async def sign_in(browser: Any, scene: Scene, username: str) -> Any:
    page = await browser.new_page(viewport=LAPTOP)
    await page.goto(f"{scene.url}/ops/")
    assert "/ops/login" in page.url  # no session: the sign-in page
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url(f"{scene.url}/ops/")
    return page


async def test_an_operator_replays_a_dead_letter_and_sees_it_delivered(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    async with scene(tmp_path) as s:
        # Given an operator signed in, looking at the overview
        page = await sign_in(browser, s, "olivia")
        card = page.locator("article.destination", has_text="treserva")
        await card.locator("text=Action needed").wait_for()
        assert await card.locator(".figures .bad dd").first.inner_text() in ("1", "0")
        await page.screenshot(path=str(screenshots / "ops-overview.png"), full_page=True)

        # When they open the dead letters and find the patient's notice
        await page.click("nav >> text=Dead letters")
        row = page.locator("table.list tbody tr", has_text=mask(s.dead_patient))
        await row.wait_for()
        assert "max-age" in await row.inner_text()
        await row.locator("text=Open").click()

        # Then the message page shows who it is about, and that it is a dead letter
        await page.locator(".patient", has_text=s.dead_patient).wait_for()
        await page.locator(".stage.failed", has_text="Dead letter").wait_for()

        # When Treserva is back and they replay it
        await set_faults(s.treserva, outage=False)
        await page.click("button:has-text('Replay')")

        # Then the page says so and, refreshing itself, shows it delivered
        await page.locator(".flash.ok", has_text="Replayed").wait_for()
        await page.locator(".stage.done", has_text="Delivered").wait_for(timeout=15_000)
        await page.locator(".timeline li.tone-ok", has_text="Delivered to treserva").wait_for()
        assert await page.locator(".timeline", has_text="Replayed").count() == 1
        assert "by olivia" in await page.locator(".timeline").inner_text()
        await page.screenshot(path=str(screenshots / "ops-message-timeline.png"), full_page=True)
        await wait_until(lambda: _is(s.bridge, "delivered", 7), within=5, what="in the store")


async def test_a_viewer_sees_dead_letters_but_cannot_replay(browser: Any, tmp_path: Path) -> None:
    async with scene(tmp_path) as s:
        # Given a viewer signed in
        page = await sign_in(browser, s, "viktor")

        # When they open the dead letters and the dead notice
        await page.click("nav >> text=Dead letters")
        row = page.locator("table.list tbody tr", has_text=mask(s.dead_patient))
        await row.wait_for()

        # Then there is no replay button for them, on the list or on the message
        assert await row.locator("button").count() == 0
        await row.locator("text=Open").click()
        await page.locator(".flash.warn", has_text="may look but not replay").wait_for()
        assert await page.locator("button:has-text('Replay')").count() == 0

        # And a replay they forge anyway is refused, and the notice stays dead
        status = await page.evaluate(
            """async (url) => {
                const form = new URLSearchParams({csrf: "forged"});
                const r = await fetch(url, {method: "POST", body: form});
                return r.status;
            }""",
            f"{s.url}/ops/dead-letters/x/replay",
        )
        assert status == 403
        assert await count(s.bridge, "dead") == 1


async def test_signing_out_ends_the_session(browser: Any, tmp_path: Path) -> None:
    async with scene(tmp_path) as s:
        # Given a signed-in operator who signs out
        page = await sign_in(browser, s, "olivia")
        await page.click("button:has-text('Sign out')")
        await page.wait_for_url(f"{s.url}/ops/login")

        # Then the dashboard sends them to the sign-in page again
        await page.goto(f"{s.url}/ops/dead-letters")
        assert "/ops/login" in page.url
