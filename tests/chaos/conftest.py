"""Fixtures for the reliability tests: whole stacks of real processes, and their reports."""

from collections.abc import AsyncIterator

import pytest

from tests.chaos.stack import Report, Stack

REPORTS: list[Report] = []


@pytest.fixture
async def stack(migrated_database: None) -> AsyncIterator[Stack]:
    """An API and two workers on queues of their own, for one test that may break them."""
    async for running in Stack(workers=2).running():
        yield running


@pytest.fixture(scope="module")
async def shared_stack(migrated_database: None) -> AsyncIterator[Stack]:
    """An API and two workers on queues of their own, for tests that break nothing."""
    async for running in Stack(workers=2).running():
        yield running


@pytest.fixture
def report() -> "list[Report]":
    """Append a Report to have it shown in the summary of the run."""
    return REPORTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("reliability")
        for item in REPORTS:
            terminalreporter.line(item.line())
