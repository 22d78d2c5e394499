"""Parsing and matching of EventBridge expressions, read in UTC (no DST in play).

Expected instants come from the printed 2026/2027 calendars (``python -m calendar 2026``),
worked out by hand per row; the comment on each row says why. EventBridge numbers
day-of-week 1 = Sunday ... 7 = Saturday.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import islice

import pytest

from job_scheduler.errors import InvalidExpression, ScheduleError, UnknownTimezone
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.expression import CronExpression, RateExpression, parse_expression
from job_scheduler.schedule.zoned import Schedule


def utc(text: str) -> datetime:
    """'2026-01-31T12:00' -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text)


def next_runs_utc(expression: str, after: str, count: int) -> list[str]:
    """The next ``count`` runs of ``expression`` read in UTC, as 'YYYY-MM-DDTHH:MM' strings."""
    runs = Schedule.parse(expression, "UTC").next_runs(utc(after), count)
    return [run.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") for run in runs]


def cron(text: str) -> CronExpression:
    parsed = parse_expression(text)
    assert isinstance(parsed, CronExpression)
    return parsed


# ---------------------------------------------------------------------------------------------
# Next runs: (expression, after, expected runs). A list ending in END means the schedule has no
# further run after the listed ones.
# ---------------------------------------------------------------------------------------------
END = "end"

NEXT_RUNS = [
    pytest.param(
        "cron(0 22 * * ? *)",
        "2026-01-01T22:00",
        ["2026-01-02T22:00", "2026-01-03T22:00", "2026-01-04T22:00"],
        id="strictly-after-an-exact-firing",
    ),
    pytest.param(
        "cron(0 22 * * ? *)",
        "2026-01-01T21:59:30",
        ["2026-01-01T22:00", "2026-01-02T22:00"],
        id="seconds-in-after-round-up",
    ),
    pytest.param(
        "cron(0 12 L * ? *)",
        "2026-01-15T00:00",
        ["2026-01-31T12:00", "2026-02-28T12:00", "2026-03-31T12:00", "2026-04-30T12:00"],
        id="L-last-day-of-month",
    ),
    pytest.param(
        "cron(0 0 L 2 ? *)",
        "2027-01-01T00:00",
        ["2027-02-28T00:00", "2028-02-29T00:00", "2029-02-28T00:00"],
        id="L-in-february-follows-leap-years",
    ),
    pytest.param(
        # Jan 31 2026 Sat -> Fri 30; Feb 28 Sat -> Fri 27; Mar 31 Tue; Apr 30 Thu;
        # May 31 Sun -> Fri 29
        "cron(0 9 LW * ? *)",
        "2026-01-01T00:00",
        [
            "2026-01-30T09:00",
            "2026-02-27T09:00",
            "2026-03-31T09:00",
            "2026-04-30T09:00",
            "2026-05-29T09:00",
        ],
        id="LW-last-weekday",
    ),
    pytest.param(
        # Jan 15 Thu; Feb 15 Sun -> Mon 16; Mar 15 Sun -> Mon 16; Apr 15 Wed; May 15 Fri
        "cron(0 9 15W * ? *)",
        "2026-01-01T00:00",
        [
            "2026-01-15T09:00",
            "2026-02-16T09:00",
            "2026-03-16T09:00",
            "2026-04-15T09:00",
            "2026-05-15T09:00",
        ],
        id="15W-sunday-moves-to-monday",
    ),
    pytest.param(
        # Aug 15 2026 Sat -> Fri 14; Sep 15 Tue; Oct 15 Thu; Nov 15 Sun -> Mon 16
        "cron(0 9 15W * ? *)",
        "2026-08-01T00:00",
        ["2026-08-14T09:00", "2026-09-15T09:00", "2026-10-15T09:00", "2026-11-16T09:00"],
        id="15W-saturday-moves-to-friday",
    ),
    pytest.param(
        # Aug 1 2026 is a Saturday: Friday Jul 31 would leave the month -> Mon Aug 3.
        # Sep 1 Tue; Oct 1 Thu; Nov 1 Sun -> Mon 2
        "cron(0 9 1W * ? *)",
        "2026-07-15T00:00",
        ["2026-08-03T09:00", "2026-09-01T09:00", "2026-10-01T09:00", "2026-11-02T09:00"],
        id="1W-saturday-first-moves-to-monday-3rd",
    ),
    pytest.param(
        # April and June have 30 days: no firing. May 31 Sun -> Fri 29 (not Jun 1);
        # Jul 31 Fri; Aug 31 Mon; Sep has 30 days; Oct 31 Sat -> Fri 30
        "cron(0 9 31W * ? *)",
        "2026-04-01T00:00",
        ["2026-05-29T09:00", "2026-07-31T09:00", "2026-08-31T09:00", "2026-10-30T09:00"],
        id="31W-skips-30-day-months-and-stays-in-month",
    ),
    pytest.param(
        "cron(0 18 ? * 6L *)",
        "2026-01-01T00:00",
        [
            "2026-01-30T18:00",
            "2026-02-27T18:00",
            "2026-03-27T18:00",
            "2026-04-24T18:00",
            "2026-05-29T18:00",
        ],
        id="6L-last-friday",
    ),
    pytest.param(
        "cron(0 18 ? * 6#3 *)",
        "2026-01-01T00:00",
        [
            "2026-01-16T18:00",
            "2026-02-20T18:00",
            "2026-03-20T18:00",
            "2026-04-17T18:00",
            "2026-05-15T18:00",
        ],
        id="6#3-third-friday",
    ),
    pytest.param(
        # Only Mar, Jun, Aug and Nov 2026 have five Mondays.
        "cron(0 8 ? * 2#5 *)",
        "2026-01-01T00:00",
        ["2026-03-30T08:00", "2026-06-29T08:00", "2026-08-31T08:00", "2026-11-30T08:00"],
        id="2#5-skips-months-without-a-fifth-monday",
    ),
    pytest.param(
        "cron(0 7 ? * 1 *)",
        "2026-01-01T00:00",
        ["2026-01-04T07:00", "2026-01-11T07:00", "2026-01-18T07:00"],
        id="day-of-week-1-is-sunday",
    ),
    pytest.param(
        "cron(0 7 ? * 7 *)",
        "2026-01-01T00:00",
        ["2026-01-03T07:00", "2026-01-10T07:00"],
        id="day-of-week-7-is-saturday",
    ),
    pytest.param(
        "cron(30 8 ? JAN,MAR MON-WED *)",
        "2026-01-25T00:00",
        [
            "2026-01-26T08:30",
            "2026-01-27T08:30",
            "2026-01-28T08:30",
            "2026-03-02T08:30",
            "2026-03-03T08:30",
            "2026-03-04T08:30",
        ],
        id="month-and-day-names",
    ),
    pytest.param(
        "cron(0 9 ? * mon-fri *)",
        "2026-01-09T10:00",
        ["2026-01-12T09:00", "2026-01-13T09:00"],
        id="lowercase-day-names",
    ),
    pytest.param(
        "cron(*-5 10 1 1 ? 2026)",
        "2025-12-31T00:00",
        [
            "2026-01-01T10:00",
            "2026-01-01T10:01",
            "2026-01-01T10:02",
            "2026-01-01T10:03",
            "2026-01-01T10:04",
            "2026-01-01T10:05",
            END,
        ],
        id="star-to-5-range-then-end",
    ),
    pytest.param(
        "cron(0/15 * * * ? *)",
        "2026-03-01T23:50",
        [
            "2026-03-02T00:00",
            "2026-03-02T00:15",
            "2026-03-02T00:30",
            "2026-03-02T00:45",
            "2026-03-02T01:00",
        ],
        id="step-0/15",
    ),
    pytest.param(
        "cron(*/7 23 * * ? *)",
        "2026-03-01T23:50",
        ["2026-03-01T23:56", "2026-03-02T23:00", "2026-03-02T23:07"],
        id="step-*/7-restarts-each-hour",
    ),
    pytest.param(
        "cron(5-40/10 6 * * ? *)",
        "2026-05-31T06:20",
        ["2026-05-31T06:25", "2026-05-31T06:35", "2026-06-01T06:05", "2026-06-01T06:15"],
        id="range-with-step-5-40/10",
    ),
    pytest.param(
        "cron(0 22-23,0-1 * * ? *)",
        "2026-01-01T21:00",
        [
            "2026-01-01T22:00",
            "2026-01-01T23:00",
            "2026-01-02T00:00",
            "2026-01-02T01:00",
            "2026-01-02T22:00",
        ],
        id="hour-list-crossing-midnight",
    ),
    pytest.param(
        "cron(0 0 1 1 ? 2026-2028)",
        "2025-06-01T00:00",
        ["2026-01-01T00:00", "2027-01-01T00:00", "2028-01-01T00:00", END],
        id="year-range-then-end",
    ),
    pytest.param(
        "cron(0 0 1 1 ? 2030/5)",
        "2036-01-01T00:00",
        ["2040-01-01T00:00", "2045-01-01T00:00"],
        id="year-step",
    ),
    pytest.param(
        "cron(0 0 * * ? 2199)",
        "2199-12-30T12:00",
        ["2199-12-31T00:00", END],
        id="ends-at-2199",
    ),
    pytest.param(
        "cron(0 0 29 2 ? *)",
        "2025-01-01T00:00",
        ["2028-02-29T00:00", "2032-02-29T00:00", "2036-02-29T00:00"],
        id="feb-29-only-in-leap-years",
    ),
    pytest.param(
        "cron(0 0 29 2 ? *)",
        "2096-03-01T00:00",
        ["2104-02-29T00:00"],  # 2100 is not a leap year (divisible by 100, not by 400)
        id="feb-29-skips-2100",
    ),
    pytest.param("cron(0 0 30 2 ? *)", "2026-01-01T00:00", [END], id="feb-30-never"),
    pytest.param(
        "cron(0 0 31 4,6,9,11 ? *)", "2026-01-01T00:00", [END], id="31st-of-30-day-months"
    ),
    pytest.param("cron(0 0 1 1 ? 2025)", "2026-01-01T00:00", [END], id="year-in-the-past"),
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT_RUNS)
def test_next_runs_in_utc(expression: str, after: str, expected: list[str]) -> None:
    ends = expected[-1:] == [END]
    wanted = expected[:-1] if ends else expected
    # For an END row ask for one run more than listed: there must not be one.
    assert next_runs_utc(expression, after, len(wanted) + ends) == wanted


@pytest.mark.parametrize(
    "expression", ["cron(0 0 30 2 ? *)", "cron(59 23 31 11 ? *)", "cron(0 0 31 2,4 ? 2026-2199)"]
)
def test_impossible_date_returns_none_quickly(expression: str) -> None:
    schedule = Schedule.parse(expression, "UTC")
    started = time.perf_counter()
    assert schedule.next_after(utc("1970-01-01T00:00")) is None
    assert list(schedule.iter_after(utc("2026-01-01T00:00"))) == []
    assert time.perf_counter() - started < 2.0


def test_iter_after_is_lazy_and_ordered() -> None:
    runs = Schedule.parse("cron(0 12 L * ? *)", "UTC").iter_after(utc("2026-12-01T00:00"))
    assert [next(runs) for _ in range(3)] == [
        utc("2026-12-31T12:00"),
        utc("2027-01-31T12:00"),
        utc("2027-02-28T12:00"),
    ]


def test_next_after_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        Schedule.parse("cron(0 22 * * ? *)", "UTC").next_after(datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------------------
# CronExpression.matches on naive wall times: (expression, wall time, matches?)
# ---------------------------------------------------------------------------------------------
MATCHES = [
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-05T09:00", True, id="weekday-monday"),
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-09T09:00", True, id="weekday-friday"),
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-04T09:00", False, id="weekday-not-sunday"),
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-10T09:00", False, id="weekday-not-saturday"),
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-05T09:01", False, id="weekday-wrong-minute"),
    pytest.param("cron(0 9 ? * 2-6 *)", "2026-01-05T10:00", False, id="weekday-wrong-hour"),
    pytest.param("cron(0 0 L 2 ? *)", "2028-02-29T00:00", True, id="L-leap-february"),
    pytest.param("cron(0 0 L 2 ? *)", "2028-02-28T00:00", False, id="L-not-28th-in-leap-year"),
    pytest.param("cron(0 0 L 2 ? *)", "2027-02-28T00:00", True, id="L-common-february"),
    pytest.param("cron(0 0 L 2 ? *)", "2027-03-31T00:00", False, id="L-wrong-month"),
    pytest.param("cron(0 12 ? * 6#3 *)", "2026-01-16T12:00", True, id="third-friday"),
    pytest.param("cron(0 12 ? * 6#3 *)", "2026-01-09T12:00", False, id="second-friday"),
    pytest.param("cron(0 12 ? * 1L *)", "2027-03-28T12:00", True, id="last-sunday"),
    pytest.param("cron(0 12 ? * 1L *)", "2027-03-21T12:00", False, id="not-last-sunday"),
    pytest.param("cron(0 12 LW * ? *)", "2026-05-29T12:00", True, id="LW-friday-before-sun-31"),
    pytest.param("cron(0 12 LW * ? *)", "2026-05-31T12:00", False, id="LW-not-the-sunday"),
    pytest.param("cron(0 12 15W * ? *)", "2026-08-14T12:00", True, id="15W-friday-14th"),
    pytest.param("cron(0 12 15W * ? *)", "2026-08-15T12:00", False, id="15W-not-saturday"),
    pytest.param("cron(0 0 * * ? 2027)", "2026-06-01T00:00", False, id="wrong-year"),
    pytest.param("cron(0 0 * * ? 2027)", "2027-06-01T00:00", True, id="right-year"),
    pytest.param("cron(0 0 * NOV ? *)", "2026-11-30T00:00", True, id="month-name"),
    pytest.param("cron(0 0 * NOV ? *)", "2026-12-01T00:00", False, id="month-name-other"),
]


@pytest.mark.parametrize(("expression", "wall", "expected"), MATCHES)
def test_matches(expression: str, wall: str, expected: bool) -> None:
    assert cron(expression).matches(naive(wall)) is expected


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        pytest.param(
            "cron(30 2 * * ? *)",
            "2026-03-29T02:30",
            ["2026-03-29T02:30", "2026-03-30T02:30"],
            id="start-itself-included",
        ),
        pytest.param(
            "cron(30 2 * * ? *)",
            "2026-03-29T02:30:01",
            ["2026-03-30T02:30", "2026-03-31T02:30"],
            id="seconds-round-up",
        ),
        pytest.param(
            "cron(0 0 L * ? *)",
            "2026-02-01T00:00",
            ["2026-02-28T00:00", "2026-03-31T00:00", "2026-04-30T00:00"],
            id="L",
        ),
        pytest.param(
            "cron(0 0 1 1 ? 2026-2027)",
            "2026-06-01T00:00",
            ["2027-01-01T00:00", END],
            id="ends",
        ),
    ],
)
def test_iter_wall_times(expression: str, start: str, expected: list[str]) -> None:
    walls = cron(expression).iter_wall_times(naive(start))
    ends = expected[-1:] == [END]
    wanted = expected[:-1] if ends else expected
    got = [wall.isoformat(timespec="minutes") for wall in islice(walls, len(wanted))]
    assert got == wanted
    if ends:
        assert next(walls, None) is None


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 3 * 86400),
    ],
)
def test_rate(expression: str, seconds: int) -> None:
    parsed = parse_expression(expression)
    assert isinstance(parsed, RateExpression)
    assert parsed.seconds == seconds
    assert Schedule.parse(expression, "Europe/Berlin").is_due(utc("2026-03-29T01:30"))


# ---------------------------------------------------------------------------------------------
# Rejected input: (expression, timezone, error, words the message must contain)
# ---------------------------------------------------------------------------------------------
REJECTED = [
    pytest.param("cron(0 22 * * ?)", "UTC", InvalidExpression, ["5 fields", "6"], id="5-fields"),
    pytest.param(
        "cron(0 22 * * ? * *)",
        "UTC",
        InvalidExpression,
        ["7 fields"],
        id="7-fields",
    ),
    pytest.param(
        "cron(0 22 ? * ? *)",
        "UTC",
        InvalidExpression,
        ["day-of-month '?'", "day-of-week '?'"],
        id="both-question-marks",
    ),
    pytest.param(
        "cron(0 22 * * * *)",
        "UTC",
        InvalidExpression,
        ["question mark", "day-of-week '*'"],
        id="no-question-mark",
    ),
    pytest.param(
        "cron(0 22 1 * MON *)",
        "UTC",
        InvalidExpression,
        ["question mark"],
        id="dom-and-dow-both-set",
    ),
    pytest.param("cron(60 0 * * ? *)", "UTC", InvalidExpression, ["minute", "60"], id="min-60"),
    pytest.param("cron(0 24 * * ? *)", "UTC", InvalidExpression, ["hour", "24"], id="hour-24"),
    pytest.param(
        "cron(0 0 ? * 0 *)",
        "UTC",
        InvalidExpression,
        ["day-of-week", "'0'"],
        id="dow-0",
    ),
    pytest.param(
        "cron(0 0 * * ? 2200)",
        "UTC",
        InvalidExpression,
        ["year", "2200"],
        id="year-2200",
    ),
    pytest.param(
        "cron(5-1 0 * * ? *)",
        "UTC",
        InvalidExpression,
        ["5-1", "backwards"],
        id="backwards-range",
    ),
    pytest.param(
        "rate(1 minutes)",
        "UTC",
        InvalidExpression,
        ["rate(1 minute)"],
        id="rate-1-plural",
    ),
    pytest.param(
        "rate(2 minute)",
        "UTC",
        InvalidExpression,
        ["rate(2 minutes)"],
        id="rate-2-singular",
    ),
    pytest.param("rate(0 minutes)", "UTC", InvalidExpression, ["at least 1"], id="rate-0"),
    pytest.param(
        "rate(5 seconds)",
        "UTC",
        InvalidExpression,
        ["rate(5 seconds)", "rate(5 minutes)"],
        id="rate-seconds",
    ),
    pytest.param("", "UTC", InvalidExpression, ["empty"], id="empty"),
    pytest.param("   ", "UTC", InvalidExpression, ["empty"], id="blank"),
    pytest.param(
        "0 22 * * ? *",
        "UTC",
        InvalidExpression,
        ["not an EventBridge schedule", "cron("],
        id="missing-cron-wrapper",
    ),
    pytest.param(
        "cron(0 22 * * ? *)",
        "Mars/Olympus",
        UnknownTimezone,
        ["Mars/Olympus", "IANA"],
        id="unknown-zone",
    ),
    pytest.param(
        "cron(0 22 * * ? *)",
        "asia/tehran ",
        UnknownTimezone,
        ["'asia/tehran '"],
        id="zone-with-trailing-space",
    ),
    pytest.param("cron(0 22 * * ? *)", "", UnknownTimezone, ["IANA"], id="empty-zone"),
]


@pytest.mark.parametrize(("expression", "timezone", "error", "words"), REJECTED)
def test_rejected(
    expression: str, timezone: str, error: type[ScheduleError], words: list[str]
) -> None:
    with pytest.raises(error) as caught:
        Schedule.parse(expression, timezone)
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


# ---------------------------------------------------------------------------------------------
# Descriptions: (expression, timezone, phrases the description must contain)
# ---------------------------------------------------------------------------------------------
DESCRIPTIONS = [
    pytest.param("cron(0 22 * * ? *)", "Asia/Tehran", ["22:00", "Asia/Tehran"], id="daily"),
    pytest.param(
        "cron(0 9 ? * 2-6 *)",
        "Europe/Berlin",
        ["09:00", "Monday through Friday"],
        id="weekdays-1-is-sunday",
    ),
    pytest.param("cron(0 9 ? * 1 *)", "UTC", ["Sunday"], id="day-1-is-sunday"),
    pytest.param("cron(0 9 ? * 7 *)", "UTC", ["Saturday"], id="day-7-is-saturday"),
    pytest.param("cron(0 12 ? * 6#3 *)", "UTC", ["third", "Friday"], id="third-friday"),
    pytest.param("cron(0 12 L * ? *)", "UTC", ["last day"], id="last-day"),
    pytest.param("rate(5 minutes)", "Asia/Tehran", ["5 minutes"], id="rate"),
]


@pytest.mark.parametrize(("expression", "timezone", "phrases"), DESCRIPTIONS)
def test_describe(expression: str, timezone: str, phrases: list[str]) -> None:
    text = describe(Schedule.parse(expression, timezone))
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"


def test_describe_does_not_shift_day_numbers() -> None:
    # cron-descriptor counts 0 = Sunday by default; EventBridge's 2 is Monday, not Tuesday.
    assert "Tuesday" not in describe(Schedule.parse("cron(0 9 ? * 2 *)", "UTC"))
