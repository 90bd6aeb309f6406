"""The `emulate` handler over many tasks: a fifth of them dead-lettered at the default rate."""

import math
import re

import pytest

from tests.support.api import submit_many, wait_all_terminal

pytestmark = pytest.mark.integration

DEFAULT_FAILURE_RATE = 0.2
# The default rate fails draws of 81..100 out of 1..100, so exactly DEFAULT_FAILURE_RATE.
DEFAULT_THRESHOLD = 80
EMULATED_FAILURE = re.compile(r"emulated failure: drew (\d+), above (\d+)")

MANY = 300
# Half-width of the accepted band, in standard deviations of the dead count. A binomial
# count lands outside ±4 sd with a chance of about 1 in 15,000 (normal approximation), so
# the test fails for a wrong rate, not for bad luck.
BAND_SDS = 4
FEW = 10


def dead_fraction_band(n: int, p: float, sds: float) -> tuple[float, float]:
    """The fractions within `sds` standard deviations of a binomial(n, p) mean."""
    half_width = sds * math.sqrt(p * (1 - p) / n)
    return p - half_width, p + half_width


async def run_emulate(client, count: int, payload: dict) -> list[dict]:
    """Submit `count` emulate tasks and wait for every one to finish."""
    submitted = await submit_many(client, [("emulate", payload)] * count)
    ids = [task["id"] for task in submitted]
    assert len(set(ids)) == count
    finished = await wait_all_terminal(client, ids, timeout=90)
    return [finished[task_id] for task_id in ids]


@pytest.fixture(scope="module")
async def default_rate_tasks(client, worker) -> list[dict]:
    """Many emulate tasks at the default failure rate, all run to the end (once per module)."""
    return await run_emulate(client, MANY, {})


async def test_emulate_at_default_rate_dead_letters_about_a_fifth(default_rate_tasks):
    # Given many emulate tasks at the default failure rate, all run
    tasks = default_rate_tasks

    # When the dead ones are counted
    dead = [task for task in tasks if task["status"] == "dead"]

    # Then the dead fraction is within the binomial band around the rate
    low, high = dead_fraction_band(MANY, DEFAULT_FAILURE_RATE, BAND_SDS)
    fraction = len(dead) / MANY
    assert low <= fraction <= high, f"{len(dead)} of {MANY} dead, outside [{low:.3f}, {high:.3f}]"


async def test_emulate_tasks_all_end_succeeded_or_dead(default_rate_tasks):
    # Given many emulate tasks at the default failure rate, all run
    # When their states are read, then each one ran once and ended in a terminal state
    assert len(default_rate_tasks) == MANY
    assert {task["status"] for task in default_rate_tasks} == {"succeeded", "dead"}
    assert all(task["attempts"] == 1 for task in default_rate_tasks)


async def test_emulate_successes_drew_at_most_the_threshold(default_rate_tasks):
    # Given many emulate tasks at the default failure rate, all run
    # When the succeeded ones are taken
    succeeded = [task for task in default_rate_tasks if task["status"] == "succeeded"]

    # Then each reports a draw within 1..80
    assert succeeded
    for task in succeeded:
        assert task["result"]["threshold"] == DEFAULT_THRESHOLD
        assert 1 <= task["result"]["draw"] <= DEFAULT_THRESHOLD


async def test_emulate_failures_carry_the_emulated_failure_error(default_rate_tasks):
    # Given many emulate tasks at the default failure rate, all run
    # When the dead ones are taken
    dead = [task for task in default_rate_tasks if task["status"] == "dead"]

    # Then each drew above 80, says so in its error, and has no result
    assert dead
    for task in dead:
        match = EMULATED_FAILURE.search(task["error"])
        assert match, task["error"]
        assert int(match[1]) > DEFAULT_THRESHOLD
        assert int(match[2]) == DEFAULT_THRESHOLD
        assert task["result"] is None


async def test_emulate_with_failure_rate_zero_always_succeeds(client, worker_log):
    # Given emulate tasks that may never fail
    # When they have all run
    tasks = await run_emulate(client, FEW, {"failure_rate": 0})

    # Then all succeeded
    assert [task["status"] for task in tasks] == ["succeeded"] * FEW
    assert all(task["result"]["threshold"] == 100 for task in tasks)


async def test_emulate_with_failure_rate_one_always_dies(client, worker_log):
    # Given emulate tasks that must always fail
    # When they have all run
    tasks = await run_emulate(client, FEW, {"failure_rate": 1})

    # Then all are dead with the emulated failure
    assert [task["status"] for task in tasks] == ["dead"] * FEW
    assert all(EMULATED_FAILURE.search(task["error"]) for task in tasks)
