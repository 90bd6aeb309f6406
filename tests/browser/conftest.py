"""The browser tests' fixtures: Chromium, a real API process, and a watched page."""

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.chaos.stack import api_answers, free_port
from tests.support import processes
from tests.support.browser import CHROMIUM, SKIP_REASON, WatchedPage
from tests.support.waiting import wait_for


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, shared by the browser tests (skipped, saying so, without it)."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


# Package scope: stopped once the browser tests end, so its LISTEN connection is gone
# before the tests that count them.
@pytest.fixture(scope="package")
async def live_api(migrated_database: None, clean_broker: None) -> AsyncIterator[str]:
    """A real API process on a free port of 127.0.0.1; its base URL."""
    port = free_port()
    api = processes.api(port=port).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            await wait_for(lambda: api_answers(http), timeout=30, what="the API process")
        yield base_url
    finally:
        api.stop()


@pytest.fixture
async def watched_page(browser: Browser, live_api: str) -> AsyncIterator[WatchedPage]:
    """A new page of a new browser context (no cookies shared between tests)."""
    context = await browser.new_context(base_url=live_api, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    try:
        yield WatchedPage(await context.new_page(), live_api)
    finally:
        await context.close()
