"""A schedule: an EventBridge expression read as wall-clock time in an IANA timezone.

DST semantics (the one rule everything else follows): a matching local wall time ``w``
fires at the instant ``w.replace(tzinfo=zone, fold=0)``. So a time inside a spring-forward
gap fires shifted by the gap (02:30 -> 03:30), an ambiguous fall-back time fires once, at
its first occurrence, and two wall times that land on one instant fire once.

Why the search in ``next_after`` reaches back: that mapping is increasing on wall times
that exist, but a gap time lands *after* later-existing wall times (02:30 lands on 03:30,
after 03:00). So candidates start up to one gap before the wall time of ``after``, and the
search stops once a candidate's wall time passes the wall time of the best instant found.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from job_scheduler.errors import UnknownTimezone
from job_scheduler.schedule.expression import (
    AtExpression,
    CronExpression,
    Expression,
    RateExpression,
    parse_expression,
)

# Longer than any offset jump in the tz database (Samoa skipped a whole day in 2011).
MAX_GAP = timedelta(hours=26)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; UnknownTimezone says what to write instead."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise UnknownTimezone(f"Timezone {name!r} is not an IANA name like 'Asia/Tehran'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(
            f"Unknown timezone '{name}'; use an IANA name such as 'Asia/Tehran', "
            "'Europe/Berlin' or 'UTC'."
        ) from exc


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; naive input is rejected rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError("expected an aware datetime (with a timezone), got a naive one")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """An expression plus the zone it is read in. Build it with ``Schedule.parse``."""

    expression: Expression
    timezone: str
    zone: ZoneInfo = field(repr=False, compare=False)

    @classmethod
    def parse(cls, expression: str, timezone: str) -> Schedule:
        return cls(parse_expression(expression), timezone, load_zone(timezone))

    @property
    def text(self) -> str:
        return self.expression.text

    @property
    def once_at(self) -> datetime | None:
        """A one-off's single fire instant (UTC); None for a repeating schedule."""
        if isinstance(self.expression, AtExpression):
            return self.to_instant(self.expression.wall)
        return None

    def to_instant(self, wall: datetime) -> datetime:
        """The UTC instant a naive local wall time fires at (``fold=0``)."""
        return wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    def wall_time(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (UTC), or None past 2199."""
        after = as_utc(after)
        if isinstance(self.expression, RateExpression):
            return _next_rate(self.expression, after)
        if isinstance(self.expression, AtExpression):
            once = self.to_instant(self.expression.wall)
            return once if once > after else None
        best: datetime | None = None
        best_wall: datetime | None = None
        for wall in self.expression.iter_wall_times(self._search_start(after)):
            if best_wall is not None and wall >= best_wall:
                break
            instant = self.to_instant(wall)
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, self.wall_time(instant)
        return best

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Fire instants strictly after ``after``, in order, each once."""
        current = self.next_after(after)
        while current is not None:
            yield current
            current = self.next_after(current)

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        runs: list[datetime] = []
        for instant in self.iter_after(after):
            if len(runs) == count:
                break
            runs.append(instant)
        return runs

    def is_due(self, instant: datetime) -> bool:
        """Whether the schedule fires at exactly this instant.

        The executor calls this for every rule firing: the UTC rules are a superset of the
        local schedule, and this drops the extra firings. ``rate()`` firings are always due.
        """
        instant = as_utc(instant)
        if isinstance(self.expression, RateExpression):
            return True
        if instant.second or instant.microsecond:
            return False  # occurrences are whole minutes; callers floor EventBridge's time
        if isinstance(self.expression, AtExpression):
            return instant == self.once_at
        cron: CronExpression = self.expression
        wall = self.wall_time(instant)
        if cron.matches(wall) and self.to_instant(wall) == instant:
            return True
        jump = self._recent_jump(instant)
        if jump > timedelta(0):  # a wall time in a gap just before lands here too
            gap_wall = wall - jump
            return cron.matches(gap_wall) and self.to_instant(gap_wall) == instant
        return False

    def _recent_jump(self, instant: datetime) -> timedelta:
        now_offset = instant.astimezone(self.zone).utcoffset()
        before_offset = (instant - MAX_GAP).astimezone(self.zone).utcoffset()
        return now_offset - before_offset

    def _search_start(self, after: datetime) -> datetime:
        return self.wall_time(after) - max(timedelta(0), self._recent_jump(after))


def _next_rate(rate: RateExpression, after: datetime) -> datetime:
    """rate() fires relative to when its rule was created; previews align to the interval."""
    step = rate.seconds
    epoch_seconds = int(after.timestamp())
    return datetime.fromtimestamp((epoch_seconds // step + 1) * step, UTC)
