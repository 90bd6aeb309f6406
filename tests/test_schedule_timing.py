"""When a schedule's ticks fall: cron expressions in a time zone across DST changes, the
phase of an interval, the latest of several missed ticks, and what a wrong timing is told."""

from datetime import UTC, datetime, timedelta

import pytest

from services.errors import InvalidFieldError
from services.schedule_timing import Timing


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def cron(expression: str, zone: str = "UTC") -> Timing:
    return Timing.parse(cron=expression, interval_seconds=None, timezone=zone)


def ticks_after(timing: Timing, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = timing.next_after(tick=moment, now=moment)
        found.append(moment)
    return found


def test_a_daily_cron_keeps_its_local_time_across_both_dst_changes():
    # Given 02:30 every day in Berlin
    timing = cron("30 2 * * *", "Europe/Berlin")

    # When DST starts (02:30 does not exist on 29 March 2026) and ends (it exists twice
    # on 25 October 2026)
    spring = ticks_after(timing, at(2026, 3, 27, 12), 3)
    autumn = ticks_after(timing, at(2026, 10, 23, 12), 3)

    # Then it runs once a day: 02:30 CET, 03:00 CEST (the skipped time's next), 02:30 CEST
    assert spring == [at(2026, 3, 28, 1, 30), at(2026, 3, 29, 1, 0), at(2026, 3, 30, 0, 30)]
    # and on the day that repeats 02:30, once, at the first
    assert autumn == [at(2026, 10, 24, 0, 30), at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30)]


def test_an_interval_keeps_its_phase_and_the_latest_missed_tick_is_found():
    # Given ticks every hour, due at 09:30 and found due at 12:00 (two and a half late)
    timing = Timing.parse(cron=None, interval_seconds=3600, timezone="UTC")
    due, now = at(2026, 1, 1, 9, 30), at(2026, 1, 1, 12, 0)

    # Then the latest missed is 11:30 and the next is 12:30: the phase is kept
    latest = timing.latest_due(due=due, now=now)
    assert latest == at(2026, 1, 1, 11, 30)
    assert timing.next_after(tick=latest, now=now) == at(2026, 1, 1, 12, 30)
    # and a tick just due is itself the latest
    assert timing.latest_due(due=due, now=due + timedelta(seconds=1)) == due
    # and the first tick of a new schedule is an interval away, to the whole second
    assert timing.first_after(at(2026, 1, 1) + timedelta(microseconds=700)) == at(2026, 1, 1, 1)


def test_the_latest_missed_cron_tick_is_the_last_before_now():
    timing = cron("*/15 * * * *")

    latest = timing.latest_due(due=at(2026, 1, 1, 8, 0), now=at(2026, 1, 1, 9, 44, 59))
    exact = timing.latest_due(due=at(2026, 1, 1, 8, 0), now=at(2026, 1, 1, 9, 45))

    assert (latest, exact) == (at(2026, 1, 1, 9, 30), at(2026, 1, 1, 9, 45))


@pytest.mark.parametrize(
    ("given", "field", "said"),
    [
        ({"cron": None, "interval_seconds": None}, "cron", "give cron"),
        ({"cron": "* * * * *", "interval_seconds": 5}, "interval_seconds", "not both"),
        ({"cron": "61 * * * *", "interval_seconds": None}, "cron", "bad minute"),
        ({"cron": "@hourly", "interval_seconds": None}, "cron", "five fields"),
        ({"cron": "0 0 30 2 *", "interval_seconds": None}, "cron", "day-of-month"),
        ({"cron": None, "interval_seconds": 0}, "interval_seconds", "must be 1"),
    ],
    ids=["neither", "both", "bad-minute", "macro", "never", "zero-interval"],
)
def test_a_wrong_timing_is_refused_naming_its_field(given, field, said):
    with pytest.raises(InvalidFieldError) as refused:
        Timing.parse(timezone="UTC", **given)

    assert refused.value.location == [field]
    assert said in str(refused.value)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "utc", "Europe", "../etc/passwd", ""])
def test_a_time_zone_must_be_an_iana_name(zone):
    with pytest.raises(InvalidFieldError) as refused:
        cron("* * * * *", zone)

    assert refused.value.location == ["timezone"]
    assert "IANA" in str(refused.value)
