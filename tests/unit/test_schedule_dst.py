"""DST property: a schedule fires at every local occurrence, once, across every offset change.

The reference is deliberately dumb and independent of the package: each case states its local
(hour, minute) pairs and a plain-Python day test, every matching local wall time in the window
is mapped with ``fold=0`` (the spec's rule), and the instants are deduplicated and sorted. Then:

(a) the UTC rules from ``utc_rule_expressions`` are fired in UTC over the window and filtered
    by ``Schedule.is_due``: that must give exactly the reference (none missing, none extra,
    and no due instant fired by two rules);
(b) chaining ``Schedule.next_after`` from the window start must give exactly the reference,
    and so must ``next_after`` asked one minute before any run near an offset change.

Daily, weekly and monthly cases run over whole years; minute-level cases over a few days
around every offset change (found by scanning the zone hourly) plus one ordinary week.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from job_scheduler.schedule.expression import CronExpression
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule

ZONES = [
    "Asia/Tehran",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kolkata",
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45, changes at 02:45 local
    "Europe/Dublin",  # negative DST in tzdata (winter is the "daylight" time)
    "Europe/London",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Asia/Kathmandu",  # +05:45
    "Pacific/Auckland",
    "America/Santiago",  # changes at 24:00 local
    "Africa/Casablanca",  # drops to +00 during Ramadan
    "Europe/Moscow",
    "Asia/Tokyo",
    "UTC",
    "America/Havana",  # changes at midnight
    "Asia/Beirut",  # changes at midnight
    "Asia/Gaza",
    "Pacific/Apia",  # skipped 2011-12-30 entirely (-10 -> +14)
    "America/Scoresbysund",  # moved from -01/+00 to -02/-01 in 2024
]

YEARS = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
# Extra stretches of history worth covering for some zones.
EXTRA_YEARS = {
    "Pacific/Apia": [(datetime(2011, 1, 1, tzinfo=UTC), datetime(2013, 1, 1, tzinfo=UTC))],
    "Asia/Tehran": [(datetime(2021, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC))],
}
ORDINARY_WEEK = (datetime(2025, 7, 7, tzinfo=UTC), datetime(2025, 7, 14, tzinfo=UTC))
DAYS_AROUND_CHANGE = 2

Window = tuple[datetime, datetime]  # (start, end): instants start < t <= end
DayTest = Callable[[date], bool]


# --- the independent reference: day tests written out in plain Python (Monday = 0) ----------
def every_day(day: date) -> bool:
    return True


def on_weekday(weekday: int) -> DayTest:
    return lambda day: day.weekday() == weekday


def on_day_of_month(number: int) -> DayTest:
    return lambda day: day.day == number


def last_day_of_month(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


def last_weekday_of_month(day: date) -> bool:
    last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    while last.weekday() >= 5:  # Saturday or Sunday
        last -= timedelta(days=1)
    return day == last


def nth_weekday_of_month(weekday: int, nth: int) -> DayTest:
    return lambda day: day.weekday() == weekday and (day.day - 1) // 7 + 1 == nth


def last_weekday_named(weekday: int) -> DayTest:
    return lambda day: day.weekday() == weekday and (day + timedelta(days=7)).month != day.month


def in_months(months: set[int], day_test: DayTest = every_day) -> DayTest:
    return lambda day: day.month in months and day_test(day)


def in_years(years: set[int], day_test: DayTest) -> DayTest:
    return lambda day: day.year in years and day_test(day)


def clock(hours: Iterable[int], minutes: Iterable[int]) -> tuple[tuple[int, int], ...]:
    return tuple((hour, minute) for hour in hours for minute in minutes)


@dataclass(frozen=True)
class Case:
    expression: str
    times: tuple[tuple[int, int], ...]  # local (hour, minute) pairs
    on_day: DayTest
    minute_level: bool = False  # True: test around offset changes only, not whole years

    def __str__(self) -> str:
        return self.expression


MON, FRI, SAT, SUN = 0, 4, 5, 6
CASES = [
    Case("cron(0/15 * * * ? *)", clock(range(24), range(0, 60, 15)), every_day, True),
    Case("cron(*/30 * * * ? *)", clock(range(24), (0, 30)), every_day, True),
    Case("cron(*/7 * * * ? *)", clock(range(24), range(0, 60, 7)), every_day, True),
    Case("cron(30 * * * ? *)", clock(range(24), (30,)), every_day, True),
    Case("cron(30 2 * * ? *)", clock((2,), (30,)), every_day),
    Case("cron(30 1 * * ? *)", clock((1,), (30,)), every_day),
    Case("cron(0 0 * * ? *)", clock((0,), (0,)), every_day),
    Case("cron(45 23 * * ? *)", clock((23,), (45,)), every_day),
    Case("cron(0 22-23,0-1 * * ? *)", clock((22, 23, 0, 1), (0,)), every_day),
    Case("cron(30 0 ? * MON *)", clock((0,), (30,)), on_weekday(MON)),
    Case("cron(45 23 ? * SUN *)", clock((23,), (45,)), on_weekday(SUN)),
    Case("cron(30 23 L * ? *)", clock((23,), (30,)), last_day_of_month),
    Case("cron(15 0 LW * ? *)", clock((0,), (15,)), last_weekday_of_month),
    Case("cron(30 2 ? * 6#2 *)", clock((2,), (30,)), nth_weekday_of_month(FRI, 2)),
    Case("cron(30 2 ? * 1L *)", clock((2,), (30,)), last_weekday_named(SUN)),
    Case("cron(30 0 1 * ? *)", clock((0,), (30,)), on_day_of_month(1)),
    # Restricted months and years: shifting a day across a month or year end must widen them.
    Case("cron(30 0 1 JAN,JUL ? *)", clock((0,), (30,)), in_months({1, 7}, on_day_of_month(1))),
    Case("cron(45 23 L FEB ? *)", clock((23,), (45,)), in_months({2}, last_day_of_month)),
    Case("cron(30 23 ? DEC SAT *)", clock((23,), (30,)), in_months({12}, on_weekday(SAT))),
    Case(
        "cron(30 0 1 1 ? 2025,2027)",
        clock((0,), (30,)),
        in_years({2025, 2027}, in_months({1}, on_day_of_month(1))),
    ),
]


def local_dates(zone: ZoneInfo, start: datetime, end: datetime) -> Iterable[date]:
    day = start.astimezone(zone).date() - timedelta(days=2)
    last = end.astimezone(zone).date() + timedelta(days=2)
    while day <= last:
        yield day
        day += timedelta(days=1)


def reference_instants(case: Case, zone_name: str, window: Window) -> list[datetime]:
    """Every matching local wall time, mapped with fold=0, kept if inside the window."""
    zone = ZoneInfo(zone_name)
    start, end = window
    found: set[datetime] = set()
    for day in local_dates(zone, start, end):
        if not case.on_day(day):
            continue
        for hour, minute in case.times:
            wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0)
            instant = wall.astimezone(UTC)
            if start < instant <= end:
                found.add(instant)
    return sorted(found)


# --- windows --------------------------------------------------------------------------------
@cache
def offset_changes(zone_name: str) -> tuple[datetime, ...]:
    """Instants (to the hour) at which the zone's UTC offset changes, found by scanning."""
    zone = ZoneInfo(zone_name)
    changes = []
    for start, end in [YEARS, *EXTRA_YEARS.get(zone_name, [])]:
        moment, offset = start, start.astimezone(zone).utcoffset()
        while moment < end:
            moment += timedelta(hours=1)
            now = moment.astimezone(zone).utcoffset()
            if now != offset:
                changes.append(moment)
                offset = now
    return tuple(changes)


def merged(windows: list[Window]) -> list[Window]:
    result: list[Window] = []
    for start, end in sorted(windows):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(end, result[-1][1]))
        else:
            result.append((start, end))
    return result


def windows_for(case: Case, zone_name: str) -> list[Window]:
    if not case.minute_level:
        return [YEARS, *EXTRA_YEARS.get(zone_name, [])]
    around = timedelta(days=DAYS_AROUND_CHANGE)
    windows = [ORDINARY_WEEK]
    for change in offset_changes(zone_name):
        midnight = change.replace(hour=0)
        windows.append((midnight - around, midnight + around + timedelta(days=1)))
    return merged(windows)


# --- the two ways the package produces firings ----------------------------------------------
def fired_rules(schedule: Schedule, window: Window) -> list[datetime]:
    """Every firing of the installed UTC rules inside the window, one entry per rule firing."""
    start, end = window
    rules = utc_rule_expressions(schedule, start=start, horizon=end - start)
    firings: list[datetime] = []
    for rule in rules:
        rule_cron = Schedule.parse(rule, "UTC").expression
        assert isinstance(rule_cron, CronExpression), rule
        first = start.replace(tzinfo=None) + timedelta(minutes=1)  # strictly after start
        for wall in rule_cron.iter_wall_times(first):
            if wall > end.replace(tzinfo=None):
                break
            firings.append(wall.replace(tzinfo=UTC))
    return firings


def chained_next_after(schedule: Schedule, window: Window) -> list[datetime]:
    start, end = window
    runs: list[datetime] = []
    current = schedule.next_after(start)
    while current is not None and current <= end:
        runs.append(current)
        current = schedule.next_after(current)
    return runs


def near_offset_changes(instants: list[datetime], zone_name: str) -> list[datetime]:
    """The instants less than a day and a half after one of the zone's offset changes."""
    reach = timedelta(hours=36)
    changes = offset_changes(zone_name)
    return [t for t in instants if any(c <= t < c + reach for c in changes)]


def difference(got: list[datetime], expected: list[datetime], zone: ZoneInfo) -> str:
    """A short readable account of how two instant lists differ."""

    def show(instants: Iterable[datetime]) -> str:
        listed = sorted(instants)[:5]
        return ", ".join(f"{t:%Y-%m-%dT%H:%MZ} ({t.astimezone(zone):%H:%M%z})" for t in listed)

    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    twice = {t for t, times in Counter(got).items() if times > 1}
    return (
        f"{len(missing)} missing [{show(missing)}]; {len(extra)} extra [{show(extra)}]; "
        f"{len(twice)} twice [{show(twice)}]"
    )


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("zone_name", ZONES)
def test_rules_and_next_after_match_the_local_schedule(zone_name: str, case: Case) -> None:
    schedule = Schedule.parse(case.expression, zone_name)
    zone = ZoneInfo(zone_name)
    total = 0
    for window in windows_for(case, zone_name):
        expected = reference_instants(case, zone_name, window)
        total += len(expected)
        where = f"{case.expression} in {zone_name}, window {window[0]:%F} .. {window[1]:%F}"

        due = [t for t in fired_rules(schedule, window) if schedule.is_due(t)]
        assert sorted(set(due)) == expected, (
            f"UTC rules + is_due, {where}: {difference(due, expected, zone)}"
        )
        chained = chained_next_after(schedule, window)
        assert chained == expected, (
            f"next_after chain, {where}: {difference(chained, expected, zone)}"
        )
        for run in near_offset_changes(expected, zone_name):
            # Asked from just before a run (not from the run before it), e.g. right after a
            # spring-forward, next_after must still find the gap time shifted forward.
            assert schedule.next_after(run - timedelta(minutes=1)) == run, (
                f"next_after({run - timedelta(minutes=1):%F %H:%MZ}), {where}"
            )
        # Each due instant from one rule only: overlapping rules would send the executor
        # such firings twice and lean on its dedupe to run the job once.
        assert len(due) == len(expected), (
            f"UTC rules overlap, {where}: {difference(due, expected, zone)}; rules "
            f"{utc_rule_expressions(schedule, start=window[0], horizon=window[1] - window[0])}"
        )
    assert total > 0, "the windows held no occurrence: the test would prove nothing"


@pytest.mark.parametrize(
    ("zone_name", "at_least"),
    [
        ("Europe/Berlin", 8),  # two a year, 2024..2027
        ("Australia/Lord_Howe", 8),
        ("Pacific/Apia", 3),  # 2011-04, 2011-09, 2011-12-29/30 (the skipped day), 2012-04
        ("Asia/Tehran", 3),  # DST until September 2022
        ("Asia/Tokyo", 0),
    ],
)
def test_offset_change_scan_finds_changes(zone_name: str, at_least: int) -> None:
    """Guards the minute-level windows: they are only as good as the scan."""
    changes = offset_changes(zone_name)
    assert len(changes) >= at_least
    if at_least == 0:
        assert changes == ()


# --- worked examples ------------------------------------------------------------------------
def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


EXAMPLES = [
    pytest.param(
        "cron(30 2 * * ? *)",
        "Europe/Berlin",
        "2027-03-27T00:00+00:00",
        ["2027-03-27T02:30+01:00", "2027-03-28T03:30+02:00", "2027-03-29T02:30+02:00"],
        id="berlin-spring-forward-02:30-runs-at-03:30",
    ),
    pytest.param(
        "cron(30 1 * * ? *)",
        "America/New_York",
        "2026-10-31T12:00+00:00",
        ["2026-11-01T05:30+00:00", "2026-11-02T06:30+00:00"],
        id="new-york-fall-back-01:30-runs-once-first-occurrence",
    ),
    pytest.param(
        # 01:30 CET, then 02:00 and 02:30 fall in the gap and land on 03:00 and 03:30 CEST,
        # which are also matching wall times: each instant fires once.
        "cron(0/30 * * * ? *)",
        "Europe/Berlin",
        "2027-03-28T00:00+00:00",
        [
            "2027-03-28T00:30+00:00",
            "2027-03-28T01:00+00:00",
            "2027-03-28T01:30+00:00",
            "2027-03-28T02:00+00:00",
        ],
        id="berlin-every-30-minutes-gap-collapses",
    ),
    pytest.param(
        "cron(0 22 * * ? *)",
        "Asia/Tehran",
        "2026-06-01T00:00+00:00",
        ["2026-06-01T18:30+00:00", "2026-06-02T18:30+00:00"],
        id="tehran-22:00-is-18:30Z",
    ),
    pytest.param(
        # Samoa went from 2011-12-29 23:59 (-10) straight to 2011-12-31 00:00 (+14): the 30th's
        # 12:00 maps with the old offset onto the 31st's 12:00, and fires once.
        "cron(0 12 * * ? *)",
        "Pacific/Apia",
        "2011-12-29T00:00+00:00",
        ["2011-12-29T12:00-10:00", "2011-12-31T12:00+14:00", "2012-01-01T12:00+14:00"],
        id="apia-skipped-day",
    ),
    pytest.param(
        # Lord Howe springs forward 30 minutes at 02:00 on the first Sunday of October.
        "cron(15 2 * * ? *)",
        "Australia/Lord_Howe",
        "2026-10-03T00:00+00:00",
        ["2026-10-04T02:45+11:00", "2026-10-05T02:15+11:00"],
        id="lord-howe-half-hour-gap",
    ),
]


@pytest.mark.parametrize(("expression", "zone_name", "after", "expected"), EXAMPLES)
def test_worked_examples(expression: str, zone_name: str, after: str, expected: list[str]) -> None:
    schedule = Schedule.parse(expression, zone_name)
    runs = schedule.next_runs(instant(after), len(expected))
    assert runs == [instant(text) for text in expected]
    assert all(schedule.is_due(run) for run in runs)


@pytest.mark.parametrize(
    ("expression", "zone_name", "not_due"),
    [
        # The second 01:30 of New York's fall-back night (EST) is not a run.
        ("cron(30 1 * * ? *)", "America/New_York", "2026-11-01T01:30-05:00"),
        # Berlin's 02:30 CET on 2027-10-31 happens twice; only the first (CEST) runs.
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2027-10-31T02:30+01:00"),
        # A rule firing one offset away from the real run (a superset extra) is dropped.
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2027-07-01T02:30+01:00"),
    ],
)
def test_not_due(expression: str, zone_name: str, not_due: str) -> None:
    assert not Schedule.parse(expression, zone_name).is_due(instant(not_due))
