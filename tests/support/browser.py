"""A real browser for the tests: Debian's Chromium driven by Playwright, with a record of
every request a page makes that fails or leaves the server under test."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, Request

CHROMIUM = Path(os.environ.get("TASKGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
SKIP_REASON = (
    f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or `make browser` "
    "as root): the browser tests are skipped"
)
# Requests a page may make without a server: inline images and workers' blobs.
LOCAL_SCHEMES = ("data:", "blob:", "about:")
# What Chromium reports for a request it dropped itself because the page moved on (a form
# post's redirect while the favicon was still loading): no fault of the server's.
ABORTED_BY_NAVIGATION = "net::ERR_ABORTED"


@dataclass
class WatchedPage:
    """A page, and what went wrong while it loaded and ran."""

    page: Page
    origin: str
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", self._requested)
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._answered)
        self.page.on("console", self._logged)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _requested(self, request: Request) -> None:
        url = request.url
        if not url.startswith(self.origin) and not url.startswith(LOCAL_SCHEMES):
            self.outside.append(url)

    def _failed(self, request: Request) -> None:
        line = f"{request.method} {request.url}: {request.failure}"
        if request.failure == ABORTED_BY_NAVIGATION:
            self.aborted.append(line)
        else:
            self.failed.append(line)

    def _answered(self, response: object) -> None:
        status: int = getattr(response, "status", 0)
        if status >= 400:
            self.failed.append(f"{getattr(response, 'url', '?')}: HTTP {status}")

    def _logged(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def assert_clean(self) -> None:
        """No request failed or left the server, and no script error was reported."""
        assert self.outside == [], f"requests left {self.origin}: {self.outside}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"errors in the page: {self.errors}"
