"""The documentation pages render in a real browser with nothing fetched from elsewhere."""

import pytest
from playwright.async_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_swagger_ui_renders_the_api_offline(watched_page):
    # Given the API's interactive documentation
    page = watched_page.page

    # When it is opened in a browser
    await page.goto("/docs")

    # Then it shows Taskgate's operations, every asset came from the server itself, and
    # nothing failed
    await expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/queue/").first
    ).to_be_visible()
    await expect(page.locator(".title").first).to_contain_text("Taskgate")
    watched_page.assert_clean()


async def test_asyncapi_page_renders_the_workers_messages_offline(watched_page):
    # Given the AsyncAPI page
    page = watched_page.page

    # When it is opened in a browser
    await page.goto("/asyncapi")

    # Then it shows every operation of the server's AsyncAPI document, and nothing failed
    # or left the server
    await expect(page.locator("#introduction")).to_be_visible()
    document = await (await page.request.get("/asyncapi.json")).json()
    assert len(document["operations"]) >= 3
    for operation_id in document["operations"]:
        await expect(page.get_by_text(f"Operation ID{operation_id}", exact=True)).to_be_attached()
    watched_page.assert_clean()


async def test_the_pages_forbid_assets_from_elsewhere(watched_page):
    # Given a documentation page
    page = watched_page.page

    # When it is loaded
    response = await page.goto("/docs")

    # Then its Content-Security-Policy lets the browser fetch only from the server itself
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in policy


async def test_redoc_address_leads_to_the_offline_docs(watched_page):
    # Given ReDoc's usual address (its bundle would load its logo from a CDN)
    page = watched_page.page

    # When it is opened
    await page.goto("/redoc")

    # Then the browser lands on /docs
    assert page.url.endswith("/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    watched_page.assert_clean()
