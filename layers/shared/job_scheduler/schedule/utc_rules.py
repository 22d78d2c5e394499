"""The UTC EventBridge expressions that fire at every local occurrence of a schedule.

EventBridge rules know only UTC. For each UTC offset the zone uses over the horizon, the
local expression is shifted by that offset; the results are merged where that stays exact
and collapsed into one per-field union when there would be too many. The rules may fire
more often than the schedule (a superset); ``Schedule.is_due`` drops the extra firings.
For a zone with a single offset (Asia/Tehran, +03:30 all year) the shift is exact whenever
the shifted days can be written in cron: the rule then fires only when the job is due.
A one-off ``at()`` becomes one exact rule: its instant in UTC, year included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from job_scheduler.schedule.expression import (
    AtExpression,
    CronExpression,
    DayOfMonth,
    DayOfWeek,
    DaySpec,
    RateExpression,
)
from job_scheduler.schedule.zoned import Schedule

HORIZON = timedelta(days=3 * 366)
SAMPLE_STEP = timedelta(hours=6)
MAX_RULES_PER_SCHEDULE = 4
MAX_EXPRESSION_LENGTH = 256  # EventBridge's limit on ScheduleExpression
ALL_MONTHS = frozenset(range(1, 13))
ALL_DOM = frozenset(range(1, 32))
_LAST_DAYS = frozenset(range(28, 32))


@dataclass(frozen=True)
class RulePart:
    """One UTC cron as value sets; ``day`` keeps the local spec when it needs no shift."""

    minutes: frozenset[int]
    hours: frozenset[int]
    day: DaySpec
    months: frozenset[int]
    years: frozenset[int] | None


def utc_rule_expressions(
    schedule: Schedule, start: datetime | None = None, horizon: timedelta = HORIZON
) -> list[str]:
    """The UTC rule expressions to install for ``schedule`` from ``start`` over ``horizon``."""
    if isinstance(schedule.expression, RateExpression):
        return [schedule.expression.text]
    if isinstance(schedule.expression, AtExpression):
        return [once_rule(schedule.to_instant(schedule.expression.wall))]
    start = start or datetime.now(UTC)
    offsets = zone_offsets(schedule, start - timedelta(days=1), start + horizon)
    parts = [part for offset in offsets for part in shift(schedule.expression, offset)]
    parts = merge_overlapping(merge(parts))
    if len(parts) > MAX_RULES_PER_SCHEDULE:
        parts = [union_all(parts)]
    return sorted(render(fit_length(part)) for part in parts)


def once_rule(instant: datetime) -> str:
    """The UTC cron that fires at this one minute only (a year in the sixth field)."""
    moment = instant.astimezone(UTC)
    return f"cron({moment.minute} {moment.hour} {moment.day} {moment.month} ? {moment.year})"


def zone_offsets(schedule: Schedule, start: datetime, end: datetime) -> list[int]:
    """Distinct UTC offsets (whole minutes) the zone uses between two instants."""
    found: set[int] = set()
    moment = start
    while moment <= end:
        offset = moment.astimezone(schedule.zone).utcoffset()
        found.add(round(offset.total_seconds() / 60))
        moment += SAMPLE_STEP
    return sorted(found)


def shift(cron: CronExpression, offset_minutes: int) -> list[RulePart]:
    """The local expression moved to UTC for one offset: one part per distinct minute set."""
    by_carry: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for hour in cron.hours:
        for minute in cron.minutes:
            carry, utc_minute = divmod(hour * 60 + minute - offset_minutes, 1440)
            by_carry[carry][utc_minute // 60].add(utc_minute % 60)
    months = frozenset(cron.months)
    years = frozenset(cron.years) if cron.years is not None else None
    parts = []
    for carry, hours in by_carry.items():
        day, part_months, part_years = shift_days(cron.days, months, years, carry)
        grouped: dict[frozenset[int], set[int]] = defaultdict(set)
        for hour, minutes in hours.items():
            grouped[frozenset(minutes)].add(hour)
        for minutes, hour_set in grouped.items():
            parts.append(RulePart(minutes, frozenset(hour_set), day, part_months, part_years))
    return parts


def shift_days(
    day: DaySpec, months: frozenset[int], years: frozenset[int] | None, carry: int
) -> tuple[DaySpec, frozenset[int], frozenset[int] | None]:
    """Move the day fields by ``carry`` days (-1, 0 or 1), widening where cron cannot say it."""
    if carry == 0:
        return day, months, years
    if isinstance(day, DayOfWeek) and day.is_plain:
        rotated = frozenset((weekday - 1 + carry) % 7 + 1 for weekday in day.weekdays)
        return DayOfWeek(rotated), _widen_months(months, carry), _widen_years(years, carry)
    if isinstance(day, DayOfMonth) and day.days == {1} and day.is_plain and carry < 0:
        return (
            DayOfMonth(frozenset(), last=True),
            _widen_months(months, carry),
            _widen_years(years, carry),
        )  # the 1st, a day earlier, is the last day of the month before: exactly L
    if isinstance(day, DayOfMonth) and day.last and not day.days and carry > 0:
        return (
            DayOfMonth(frozenset({1})),
            _widen_months(months, carry),
            _widen_years(years, carry),
        )  # the last day, a day later, is exactly the 1st of the next month
    if isinstance(day, DayOfMonth) and day.is_plain:
        shifted: set[int] = set()
        wraps = False
        for value in day.days:
            moved = value + carry
            if moved < 1:
                shifted |= _LAST_DAYS  # the last day of the month before: 28..31
                wraps = True
            elif moved > 28 and carry > 0:  # maybe the 1st of the next month
                shifted |= {moved, 1} if moved <= 31 else {1}
                wraps = True
            else:
                shifted.add(moved)
        if not wraps:
            return DayOfMonth(frozenset(shifted)), months, years
        return (
            DayOfMonth(frozenset(shifted)),
            _widen_months(months, carry),
            _widen_years(years, carry),
        )
    # L, LW, nW, nL and n#k moved by a day have no cron spelling: fire every day instead.
    return DayOfMonth(ALL_DOM), _widen_months(months, carry), _widen_years(years, carry)


def _widen_months(months: frozenset[int], carry: int) -> frozenset[int]:
    return months | {(month - 1 + carry) % 12 + 1 for month in months}


def _widen_years(years: frozenset[int] | None, carry: int) -> frozenset[int] | None:
    if years is None:
        return None
    return years | {year + carry for year in years if 1970 <= year + carry <= 2199}


def merge(parts: list[RulePart]) -> list[RulePart]:
    """Merge parts that differ in one field only, which keeps the result exact."""
    parts = list(dict.fromkeys(parts))
    merged = True
    while merged:
        merged = False
        for i, first in enumerate(parts):
            for j in range(i + 1, len(parts)):
                combined = _merge_pair(first, parts[j])
                if combined is not None:
                    parts[i] = combined
                    del parts[j]
                    merged = True
                    break
            if merged:
                break
    return parts


def _merge_pair(a: RulePart, b: RulePart) -> RulePart | None:
    names = ("minutes", "hours", "day", "months", "years")
    differing = [name for name in names if getattr(a, name) != getattr(b, name)]
    if len(differing) != 1:
        return None
    name = differing[0]
    if name == "day":
        day = _union_days(a.day, b.day)
        return replace(a, day=day) if day is not None else None
    if name == "years" and (a.years is None or b.years is None):
        return replace(a, years=None)
    return replace(a, **{name: getattr(a, name) | getattr(b, name)})


def _union_days(a: DaySpec, b: DaySpec) -> DaySpec | None:
    if isinstance(a, DayOfMonth) and isinstance(b, DayOfMonth) and a.is_plain and b.is_plain:
        return DayOfMonth(a.days | b.days)
    if isinstance(a, DayOfWeek) and isinstance(b, DayOfWeek) and a.is_plain and b.is_plain:
        return DayOfWeek(a.weekdays | b.weekdays)
    return None


def merge_overlapping(parts: list[RulePart]) -> list[RulePart]:
    """Replace any two parts that could fire at the same instant by their union.

    Two rules firing at one instant would deliver the same firing twice; the union is a
    superset (``is_due`` drops the extra firings) and fires each instant once.
    """
    parts = list(parts)
    while True:
        pair = next(
            (
                (i, j)
                for i in range(len(parts))
                for j in range(i + 1, len(parts))
                if _may_overlap(parts[i], parts[j])
            ),
            None,
        )
        if pair is None:
            return parts
        i, j = pair
        combined = union_all([parts[i], parts[j]])
        parts = [part for index, part in enumerate(parts) if index not in pair] + [combined]


def _may_overlap(a: RulePart, b: RulePart) -> bool:
    if not (a.minutes & b.minutes and a.hours & b.hours and a.months & b.months):
        return False
    if a.years is not None and b.years is not None and not a.years & b.years:
        return False
    plain_same_kind = type(a.day) is type(b.day) and a.day.is_plain and b.day.is_plain
    if plain_same_kind:
        return bool(_plain_days(a.day) & _plain_days(b.day))
    return True  # specials, or day-of-month against day-of-week: assume they can meet


def _plain_days(day: DaySpec) -> frozenset[int]:
    return day.weekdays if isinstance(day, DayOfWeek) else day.days


def fit_length(part: RulePart) -> RulePart:
    """Widen fields (years, then days, months, hours) until the rule fits EventBridge's limit."""
    widenings = (
        {"years": None},
        {"day": DayOfMonth(ALL_DOM)},
        {"months": ALL_MONTHS},
        {"hours": frozenset(range(24))},
    )
    for widening in widenings:
        if len(render(part)) <= MAX_EXPRESSION_LENGTH:
            break
        part = replace(part, **widening)
    return part


def union_all(parts: list[RulePart]) -> RulePart:
    """One part whose every field is the union: a superset of all of them."""
    days = parts[0].day
    for part in parts[1:]:
        days = _union_days(days, part.day) or DayOfMonth(ALL_DOM)
    years = None
    if all(part.years is not None for part in parts):
        years = frozenset().union(*(part.years for part in parts))
    return RulePart(
        minutes=frozenset().union(*(p.minutes for p in parts)),
        hours=frozenset().union(*(p.hours for p in parts)),
        day=days,
        months=frozenset().union(*(p.months for p in parts)),
        years=years,
    )


def render(part: RulePart) -> str:
    """The part as an EventBridge cron() string, compact where ranges and steps allow."""
    dom, dow = _render_days(part.day)
    fields = [
        _render_values(part.minutes, 0, 59),
        _render_values(part.hours, 0, 23),
        dom,
        _render_values(part.months, 1, 12),
        dow,
        "*" if part.years is None else _render_values(part.years, 1970, 2199),
    ]
    return f"cron({' '.join(fields)})"


def _render_days(day: DaySpec) -> tuple[str, str]:
    if isinstance(day, DayOfWeek):
        if not day.is_plain:
            tokens = [f"{weekday}L" for weekday in sorted(day.last_of)]
            tokens += [f"{weekday}#{nth}" for weekday, nth in sorted(day.nth_of)]
            return "?", ",".join(tokens)
        return "?", _render_values(day.weekdays, 1, 7)
    if day.last:
        return "L", "?"
    if day.last_weekday:
        return "LW", "?"
    if day.nearest_weekday:
        return f"{min(day.nearest_weekday)}W", "?"
    return _render_values(day.days, 1, 31), "?"


def _render_values(values: frozenset[int], low: int, high: int) -> str:
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) > 2:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], high + 1, step)):
            return f"{ordered[0]}/{step}"
    runs: list[str] = []
    run_start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        runs.append(str(run_start) if run_start == previous else f"{run_start}-{previous}")
        if value is not None:
            run_start = previous = value
    return ",".join(runs)
