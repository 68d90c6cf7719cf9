"""Issue 14, in a real browser against ``bridge demo`` run as a process: ``/docs`` renders with
no network beyond localhost, and every link on the landing page ``/`` answers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from services import wait_until

from support.cli_process import bridge_env, start_bridge

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """``bridge demo`` (bridge + simulators) on free ports; its base URL."""
    env = bridge_env(BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}")
    process: subprocess.Popen[str] = start_bridge(["demo", "--rate", "1"], tmp_path, env)
    try:
        yield f"http://127.0.0.1:{env['BRIDGE_HTTP_PORT']}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _ready(base_url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base_url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _offline_page(browser: Any, outside: list[str]) -> Any:
    """A page whose requests to anything but localhost are refused and recorded."""
    page = await browser.new_page()

    async def only_localhost(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    await page.route("**/*", only_localhost)
    return page


async def test_docs_render_without_internet(browser: Any, demo: str, screenshots: Path) -> None:
    # Given the bridge running and a browser that reaches nothing but localhost
    await wait_until(lambda: _ready(demo), within=60, what="bridge up")
    outside: list[str] = []
    page = await _offline_page(browser, outside)
    # When the operator opens the API documentation
    await page.goto(f"{demo}/docs")
    # Then Swagger UI renders the bridge's operations, with nothing fetched from outside
    await page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    text = await page.inner_text("body")
    assert "/hl7v2" in text
    assert "/fhir/$process-message" in text
    await page.screenshot(path=str(screenshots / "docs-offline.png"))
    assert outside == []


async def test_every_landing_page_link_works(browser: Any, demo: str, screenshots: Path) -> None:
    # Given the bridge and the Treserva simulator of the demo
    await wait_until(lambda: _ready(demo), within=60, what="bridge up")
    outside: list[str] = []
    page = await _offline_page(browser, outside)
    # When the newcomer opens /
    response = await page.goto(f"{demo}/")
    assert response is not None
    assert response.status == 200
    await page.screenshot(path=str(screenshots / "landing.png"))
    links = await page.eval_on_selector_all("a", "els => els.map(e => [e.textContent, e.href])")
    names = {name for name, _ in links}
    assert {"Operations dashboard", "API documentation", "Treserva worklist"} <= names
    # Then every link opens a page that answers without error
    for name, href in links:
        opened = await page.goto(href)
        assert opened is not None, name
        assert opened.status < 400, f"{name} ({href}): {opened.status}"
    assert outside == []
