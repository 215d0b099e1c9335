"""A real browser for page tests: Debian's Chromium, driven by Playwright by its path.

Nothing here downloads a browser: the tests launch the one the system has (`chromium`,
installed by `.ci/run` with apt when missing), or the one `TOILE_CHROMIUM` names. Its
background traffic is switched off, so a page test touches nothing but loopback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
# Screenshots a person looks at after a run; gitignored.
ARTIFACTS = Path(os.environ.get("TOILE_ARTIFACTS", ROOT / "artifacts"))

# Without these, Chromium calls home at start (updates, sync, safe browsing) and a closed
# network refuses it many times over; as root it also needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = os.environ.get("TOILE_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("No Chromium: install Debian's package (apt-get install chromium) or set "
                    "TOILE_CHROMIUM to a Chromium binary; `.ci/run` installs it.")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page the size of a laptop screen, with no state from another test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800},
                                        locale="fr-FR")
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as artifacts/<name>.png, for a person to look at."""
    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
