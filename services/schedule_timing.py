"""When a schedule's ticks fall: a five-field cron expression read in an IANA time zone
(cronsim; DST-correct through zoneinfo), or a fixed interval. Every moment in and out is
aware; ticks come out in UTC."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from services.errors import InvalidFieldError

CRON_EXAMPLE = "*/5 * * * *"
# Seconds between an interval schedule's ticks: from one second to a year.
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
# cronsim's reverse iteration finds the latest tick strictly before a moment.
_JUST_AFTER = timedelta(microseconds=1)


@dataclass(frozen=True)
class Timing:
    """A schedule's ticks: by `cron` in `zone`, or every `interval`."""

    cron: str | None
    interval: timedelta | None
    zone: ZoneInfo

    @classmethod
    def parse(cls, *, cron: str | None, interval_seconds: int | None, timezone: str) -> "Timing":
        """The timing a request gives; InvalidFieldError naming the field that is wrong."""
        if cron is None and interval_seconds is None:
            raise InvalidFieldError(
                ["cron"],
                f"give cron (a cron expression, e.g. {CRON_EXAMPLE!r}) or interval_seconds "
                "(seconds between runs)",
            )
        if cron is not None and interval_seconds is not None:
            raise InvalidFieldError(["interval_seconds"], "give cron or interval_seconds, not both")
        zone = _zone(timezone)
        if interval_seconds is not None:
            if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
                raise InvalidFieldError(
                    ["interval_seconds"],
                    f"interval_seconds must be {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS}",
                )
            return cls(cron=None, interval=timedelta(seconds=interval_seconds), zone=zone)
        assert cron is not None
        timing = cls(cron=" ".join(cron.split()), interval=None, zone=zone)
        timing._check_cron()
        return timing

    @property
    def interval_seconds(self) -> int | None:
        return None if self.interval is None else int(self.interval.total_seconds())

    def _check_cron(self) -> None:
        try:
            self.first_after(datetime.now(UTC))
        except (CronSimError, StopIteration) as error:
            raise InvalidFieldError(
                ["cron"],
                f"{self.cron!r} is not a cron expression that runs ({_reason(error)}): give "
                "five fields, minute hour day-of-month month day-of-week, e.g. "
                f"{CRON_EXAMPLE!r}",
            ) from None

    def first_after(self, moment: datetime) -> datetime:
        """The first tick after `moment`, when nothing anchors the ticks yet: an interval's
        is one interval after it (to the whole second)."""
        if self.interval is not None:
            return moment.replace(microsecond=0).astimezone(UTC) + self.interval
        assert self.cron is not None
        return next(CronSim(self.cron, moment.astimezone(self.zone))).astimezone(UTC)

    def latest_due(self, *, due: datetime, now: datetime) -> datetime:
        """The most recent tick at or before `now`, given the tick `due` (at or before
        `now`) that was next; `due` itself unless later ones were missed."""
        if self.interval is not None:
            return due + self.interval * ((now - due) // self.interval)
        assert self.cron is not None
        latest = next(CronSim(self.cron, (now + _JUST_AFTER).astimezone(self.zone), reverse=True))
        return max(due, latest.astimezone(UTC))

    def next_after(self, *, tick: datetime, now: datetime) -> datetime:
        """The first tick after `now`, counting from `tick` (an interval keeps its phase)."""
        if self.interval is not None:
            return tick + self.interval * ((now - tick) // self.interval + 1)
        return self.first_after(now)


def _reason(error: Exception) -> str:
    said = str(error)
    return said[:1].lower() + said[1:] if said else "it never comes"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidFieldError(
            ["timezone"],
            f"{name!r} is not a time zone: give an IANA name such as 'UTC', "
            "'Europe/Berlin' or 'America/New_York'",
        ) from None
