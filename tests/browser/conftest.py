"""Browser tests: real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

On a laptop without Chromium or Playwright these tests are skipped; with ``CI=true`` they fail
(.ci/run installs Chromium). ``BRIDGE_SCREENSHOT_DIR`` names where screenshots go (the ones in
docs/screenshots are made with ``BRIDGE_SCREENSHOT_DIR=docs/screenshots``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from services import unavailable

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not shutil.which(CHROMIUM):
        unavailable("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError as error:
        unavailable("Playwright", str(error))
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    chosen = os.environ.get("BRIDGE_SCREENSHOT_DIR")
    directory = Path(chosen) if chosen else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
