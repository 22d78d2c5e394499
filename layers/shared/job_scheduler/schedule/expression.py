"""EventBridge schedule expressions: ``cron(min hour dom month dow year)``, ``rate(N unit)``
and, for one-off jobs, ``at(YYYY-MM-DDThh:mm)`` as EventBridge Scheduler writes it.

Syntax is checked first by aws-cron-expression-validator (the field grammar AWS documents),
then parsed here into value sets. The evaluator is our own: croniter reads the sixth field
as seconds and 0 as Sunday, and pyawscron mis-handles ``LW`` and returns None once a year
range ends, so neither can back DST-exact scheduling. Evaluating the parsed sets is short.

Day-of-week numbering is EventBridge's: 1 = Sunday ... 7 = Saturday.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from aws_cron_expression_validator.validator import (
    AWSCronExpressionError,
    AWSCronExpressionValidator,
)

from job_scheduler.errors import InvalidExpression

MIN_YEAR, MAX_YEAR = 1970, 2199
MONTH_NAMES = {n.upper(): i for i, n in enumerate(calendar.month_abbr) if n}
DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
EXAMPLE = "cron(0 22 * * ? *) (22:00 every day) or rate(5 minutes)"
AT_EXAMPLE = "at(2026-12-04T09:30)"

_CRON_RE = re.compile(r"^cron\((?P<body>[^()]*)\)$")
_RATE_RE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_AT_RE = re.compile(
    r"^at\((?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\)$"
)


def eventbridge_weekday(day: date) -> int:
    """EventBridge's day-of-week number for a date (1 = Sunday ... 7 = Saturday)."""
    return (day.weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class RateExpression:
    """``rate(N unit)``: every N units from when the rule was created, in no timezone."""

    text: str
    seconds: int


@dataclass(frozen=True)
class DayOfMonth:
    """The day-of-month field: plain days plus the ``L``, ``LW`` and ``nW`` specials."""

    days: frozenset[int]
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    @property
    def is_plain(self) -> bool:
        return not (self.last or self.last_weekday or self.nearest_weekday)

    def matching_days(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in self.days if d <= length}
        if self.last:
            found.add(length)
        if self.last_weekday:
            found.add(_nearest_weekday(year, month, length, length))
        for wanted in self.nearest_weekday:
            if wanted <= length:
                found.add(_nearest_weekday(year, month, wanted, length))
        return found


@dataclass(frozen=True)
class DayOfWeek:
    """The day-of-week field: plain weekdays plus ``nL`` (last n) and ``n#k`` (k-th n)."""

    weekdays: frozenset[int]
    last_of: frozenset[int] = frozenset()
    nth_of: frozenset[tuple[int, int]] = frozenset()

    @property
    def is_plain(self) -> bool:
        return not (self.last_of or self.nth_of)

    def matching_days(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        first = eventbridge_weekday(date(year, month, 1))
        found: set[int] = set()
        for day in range(1, length + 1):
            weekday = (first - 1 + day - 1) % 7 + 1
            if weekday in self.weekdays:
                found.add(day)
            if weekday in self.last_of and day + 7 > length:
                found.add(day)
            if (weekday, (day - 1) // 7 + 1) in self.nth_of:
                found.add(day)
        return found


DaySpec = DayOfMonth | DayOfWeek


@dataclass(frozen=True)
class AtExpression:
    """``at(YYYY-MM-DDThh:mm)``: one wall-clock minute, read in the job's timezone.

    EventBridge rules have no ``at()`` (only Scheduler does), so the rule installed for it
    is a UTC cron with a year that names that single minute (``utc_rules``).
    """

    text: str
    wall: datetime  # naive, whole minute

    def matches(self, wall: datetime) -> bool:
        return wall == self.wall


@dataclass(frozen=True)
class CronExpression:
    """A parsed ``cron(...)``: sorted value tuples per field; ``years`` None means any."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: DaySpec
    months: tuple[int, ...]
    years: tuple[int, ...] | None

    @property
    def fields(self) -> list[str]:
        return _CRON_RE.fullmatch(self.text)["body"].split(" ")

    def matching_days(self, year: int, month: int) -> tuple[int, ...]:
        return _matching_days(self.days, year, month)

    def matches(self, wall: datetime) -> bool:
        """Whether a naive wall-clock minute is one of this expression's firings."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and (self.years is None or wall.year in self.years)
            and MIN_YEAR <= wall.year <= MAX_YEAR
            and wall.day in self.matching_days(wall.year, wall.month)
        )

    def iter_wall_times(self, start: datetime) -> Iterator[datetime]:
        """Matching naive wall-clock minutes at or after ``start``, in order, until 2199."""
        start = _ceil_minute(start)
        years = self.years if self.years is not None else range(MIN_YEAR, MAX_YEAR + 1)
        for year in years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                yield from self._iter_month(year, month, start)

    def _iter_month(self, year: int, month: int, start: datetime) -> Iterator[datetime]:
        same_month = (year, month) == (start.year, start.month)
        for day in self.matching_days(year, month):
            if same_month and day < start.day:
                continue
            same_day = same_month and day == start.day
            for hour in self.hours:
                if same_day and hour < start.hour:
                    continue
                same_hour = same_day and hour == start.hour
                for minute in self.minutes:
                    if same_hour and minute < start.minute:
                        continue
                    yield datetime(year, month, day, hour, minute)


@lru_cache(maxsize=4096)
def _matching_days(spec: DaySpec, year: int, month: int) -> tuple[int, ...]:
    return tuple(sorted(spec.matching_days(year, month)))


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """Quartz ``nW``: the weekday nearest ``day`` without leaving the month."""
    weekday = eventbridge_weekday(date(year, month, day))
    if weekday == 7:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < length else day - 2
    return day


def _ceil_minute(moment: datetime) -> datetime:
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + timedelta(minutes=1)


Expression = CronExpression | RateExpression | AtExpression


def parse_expression(text: str) -> Expression:
    """Parse ``cron(...)``, ``rate(...)`` or ``at(...)``; raise InvalidExpression saying what
    to fix."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidExpression(f"The schedule is empty; write it like {EXAMPLE}.")
    text = text.strip()
    if text.startswith("rate("):
        return _parse_rate(text)
    if text.startswith("at("):
        return _parse_at(text)
    match = _CRON_RE.fullmatch(text)
    if not match:
        raise InvalidExpression(
            f"'{text}' is not an EventBridge schedule; write it like {EXAMPLE}, or"
            f" {AT_EXAMPLE} to run once."
        )
    return _parse_cron(text, match["body"])


def _parse_at(text: str) -> AtExpression:
    """Scheduler writes ``at(yyyy-mm-ddThh:mm:ss)``; runs are whole minutes, so ``:ss`` may
    be left out and must be 00 when given."""
    match = _AT_RE.fullmatch(text)
    if not match:
        raise InvalidExpression(
            f"'{text}' is not a valid at(); write the date and time in the job's timezone as"
            f" at(YYYY-MM-DDThh:mm), e.g. {AT_EXAMPLE}."
        )
    if match["second"] not in (None, "00"):
        raise InvalidExpression(
            f"'{text}': jobs run on whole minutes; leave the seconds out or write :00."
        )
    try:
        wall = datetime.fromisoformat(f"{match['date']}T{match['hour']}:{match['minute']}")
    except ValueError as exc:
        raise InvalidExpression(
            f"'{text}' names no such date or time ({exc}); write at(YYYY-MM-DDThh:mm) with a"
            f" real date, hours 00-23 and minutes 00-59, e.g. {AT_EXAMPLE}."
        ) from exc
    if not MIN_YEAR < wall.year < MAX_YEAR:  # its UTC rule may fall a year either side
        raise InvalidExpression(
            f"'{text}': the year must lie within {MIN_YEAR + 1}-{MAX_YEAR - 1}."
        )
    return AtExpression(text=text, wall=wall)


def _parse_rate(text: str) -> RateExpression:
    match = _RATE_RE.fullmatch(text)
    if not match:
        raise InvalidExpression(
            f"'{text}' is not a valid rate(); write rate(1 minute), rate(5 minutes), "
            "rate(1 hour) or rate(2 days)."
        )
    value, unit = int(match["value"]), match["unit"]
    if value < 1:
        raise InvalidExpression(f"'{text}': the rate must be at least 1.")
    if (value == 1) != (not unit.endswith("s")):
        fixed = unit.rstrip("s") if value == 1 else unit.rstrip("s") + "s"
        raise InvalidExpression(f"'{text}': write rate({value} {fixed}) (EventBridge is strict).")
    return RateExpression(text=text, seconds=value * _UNIT_SECONDS[unit.rstrip("s")])


def _parse_cron(text: str, body: str) -> CronExpression:
    fields = body.split(" ")
    if len(fields) != 6:
        raise InvalidExpression(
            f"'{text}' has {len(fields)} fields; EventBridge cron needs 6 separated by single "
            "spaces: minutes hours day-of-month month day-of-week year, e.g. cron(0 22 * * ? *)."
        )
    try:
        AWSCronExpressionValidator.validate(body)
    except AWSCronExpressionError as exc:
        raise InvalidExpression(f"'{text}': {_explain(exc)}") from exc
    minute, hour, dom, month, dow, year = fields
    days: DaySpec = _parse_day_of_week(text, dow) if dom == "?" else _parse_day_of_month(text, dom)
    years = None if year == "*" else _values(text, "year", year, MIN_YEAR, MAX_YEAR)
    return CronExpression(
        text=text,
        minutes=_values(text, "minutes", minute, 0, 59),
        hours=_values(text, "hours", hour, 0, 23),
        days=days,
        months=_values(text, "month", month, 1, 12, MONTH_NAMES),
        years=years,
    )


def _explain(exc: AWSCronExpressionError) -> str:
    message = str(exc).replace("'.One", "'. One")
    return (
        f"{message} Fields are minutes(0-59) hours(0-23) day-of-month(1-31, L, LW, nW) "
        "month(1-12 or JAN-DEC) day-of-week(1-7 or SUN-SAT, nL, n#k; 1 = Sunday) "
        "year(1970-2199); exactly one of day-of-month and day-of-week must be '?'."
    )


def _values(
    text: str, field: str, spec: str, low: int, high: int, names: dict[str, int] | None = None
) -> tuple[int, ...]:
    found: set[int] = set()
    for item in spec.split(","):
        found.update(_item_values(text, field, item, low, high, names or {}))
    return tuple(sorted(found))


def _item_values(
    text: str, field: str, item: str, low: int, high: int, names: dict[str, int]
) -> range:
    base, _, step_text = item.partition("/")
    step = int(step_text) if step_text else 1
    if base == "*":
        first, last = low, high
    elif "-" in base:
        first_text, last_text = base.split("-", 1)
        first = low if first_text == "*" else _number(first_text, names)
        last = high if last_text == "*" else _number(last_text, names)
    else:
        first = _number(base, names)
        last = high if step_text else first
    if first > last:
        raise InvalidExpression(
            f"'{text}': the {field} range '{base}' runs backwards; write it low-high "
            f"(or split it, e.g. 22-23,0-2)."
        )
    if not low <= first <= last <= high:
        raise InvalidExpression(f"'{text}': {field} must lie within {low}-{high}, not '{item}'.")
    return range(first, last + 1, step)


def _number(token: str, names: dict[str, int]) -> int:
    return names[token.upper()] if token.upper() in names else int(token)


def _parse_day_of_month(text: str, spec: str) -> DayOfMonth:
    if spec == "L":
        return DayOfMonth(days=frozenset(), last=True)
    if spec == "LW":
        return DayOfMonth(days=frozenset(), last_weekday=True)
    if spec.endswith("W"):
        return DayOfMonth(days=frozenset(), nearest_weekday=frozenset({int(spec[:-1])}))
    return DayOfMonth(days=frozenset(_values(text, "day-of-month", spec, 1, 31)))


def _parse_day_of_week(text: str, spec: str) -> DayOfWeek:
    if spec.startswith("L-"):
        raise InvalidExpression(
            f"'{text}': day-of-week '{spec}' is not supported; use nL for the last weekday n "
            "of the month (6L = last Friday) or day-of-month L for the last day."
        )
    if spec == "L":  # Quartz: a bare L in day-of-week is Saturday
        return DayOfWeek(weekdays=frozenset({7}))
    if spec.endswith("L"):
        return DayOfWeek(weekdays=frozenset(), last_of=frozenset({_number(spec[:-1], DAY_NAMES)}))
    if "#" in spec:
        weekday, nth = spec.split("#")
        return DayOfWeek(
            weekdays=frozenset(), nth_of=frozenset({(_number(weekday, DAY_NAMES), int(nth))})
        )
    return DayOfWeek(weekdays=frozenset(_values(text, "day-of-week", spec, 1, 7, DAY_NAMES)))
