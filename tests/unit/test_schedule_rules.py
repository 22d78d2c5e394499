"""The UTC EventBridge rules installed for a schedule: valid, few, and exact where they can be.

Asia/Tehran has been +03:30 all year since 2022, so a shift by 3h30 says exactly the same
thing in UTC: one rule, and every one of its firings is a run. Other zones get up to four
rules whose firings are a superset; test_schedule_dst.py checks that superset in depth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aws_cron_expression_validator.validator import AWSCronExpressionValidator

from job_scheduler.schedule.expression import CronExpression
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_2026 = (START, datetime(2027, 1, 1, tzinfo=UTC))
MAX_RULES = 4
MAX_RULE_LENGTH = 256


def rule_firings(rules: list[str], start: datetime, end: datetime) -> list[datetime]:
    """Every firing of the rules, read in UTC, with start <= t < end; one entry per rule."""
    firings: list[datetime] = []
    for rule in rules:
        cron = Schedule.parse(rule, "UTC").expression
        assert isinstance(cron, CronExpression), rule
        for wall in cron.iter_wall_times(start.replace(tzinfo=None)):
            if wall >= end.replace(tzinfo=None):
                break
            firings.append(wall.replace(tzinfo=UTC))
    return firings


def test_tehran_has_one_offset_all_year() -> None:
    """Guards the premise of the exactness tests below."""
    zone = ZoneInfo("Asia/Tehran")
    offsets = {
        (START + timedelta(hours=hour)).astimezone(zone).utcoffset() for hour in range(0, 8760, 6)
    }
    assert offsets == {timedelta(hours=3, minutes=30)}


@pytest.mark.parametrize(
    ("expression", "rule_count", "runs_in_2026"),
    [
        pytest.param("cron(0 22 * * ? *)", 1, 365, id="daily-22:00"),
        # Monday 00:30 in Tehran is Sunday 21:00 UTC; 2026 has 52 Sundays.
        pytest.param("cron(30 0 ? * MON *)", 1, 52, id="weekly-monday-00:30"),
        pytest.param("cron(0 9 ? * MON-FRI *)", 1, 261, id="weekdays-09:00"),
        pytest.param("cron(0/5 * * * ? *)", 1, 365 * 24 * 12, id="every-5-minutes"),
        # 09:00..17:45 local is 05:30..14:15 UTC: the first and last UTC hours take only
        # half the quarter-hours, which one cron cannot say, so three exact rules.
        pytest.param("cron(0/15 9-17 * * ? *)", 3, 365 * 9 * 4, id="every-15-office-hours"),
    ],
)
def test_tehran_rules_are_exact(expression: str, rule_count: int, runs_in_2026: int) -> None:
    schedule = Schedule.parse(expression, "Asia/Tehran")
    rules = utc_rule_expressions(schedule, start=START)
    assert len(rules) == rule_count, rules
    firings = rule_firings(rules, *YEAR_2026)
    assert len(firings) == runs_in_2026, rules
    not_due = [t for t in firings if not schedule.is_due(t)]
    assert not_due == [], f"{rules} fires when the job is not due, e.g. {not_due[:3]}"


def test_tehran_22_00_is_18_30_utc() -> None:
    schedule = Schedule.parse("cron(0 22 * * ? *)", "Asia/Tehran")
    assert utc_rule_expressions(schedule, start=START) == ["cron(30 18 * * ? *)"]


ZONES = [
    "Asia/Tehran",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/Dublin",
    "America/Sao_Paulo",
    "Asia/Kathmandu",
    "Pacific/Auckland",
    "America/Santiago",
    "Africa/Casablanca",
    "America/Havana",
    "Asia/Beirut",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
]
EXPRESSIONS = [
    "cron(0 22 * * ? *)",
    "cron(0/5 * * * ? *)",
    "cron(*/7 * * * ? *)",
    "cron(0 9 ? * MON-FRI *)",
    "cron(45 23 ? * SUN *)",
    "cron(30 2 ? * 6#2 *)",
    "cron(59 23 ? * 7L *)",
    "cron(0 0 15W * ? *)",
    "cron(15 0 LW * ? *)",
    "cron(15 0 1,15 JAN,JUL ? *)",
    "cron(30 23 31 12 ? 2026)",
    "cron(0/7 1-3,22-23 L * ? 2026-2030)",
    "cron(5,10,20,35,50 * 28-31 FEB-APR ? 2026,2028)",
    "cron(1,7,13,19,29,31,37,43,53,59 0,5,11,17,23 * * ? *)",
    "cron(0 0 1 1 ? 2026-2030)",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("zone_name", ZONES)
def test_rules_are_valid_eventbridge_crons(zone_name: str, expression: str) -> None:
    rules = utc_rule_expressions(Schedule.parse(expression, zone_name), start=START)
    assert 1 <= len(rules) <= MAX_RULES, rules
    assert len(set(rules)) == len(rules), f"duplicate rules: {rules}"
    for rule in rules:
        assert len(rule) <= MAX_RULE_LENGTH, rule
        assert rule.startswith("cron(") and rule.endswith(")"), rule
        AWSCronExpressionValidator.validate(rule[len("cron(") : -1])  # raises if invalid
        assert isinstance(Schedule.parse(rule, "UTC").expression, CronExpression)


@pytest.mark.parametrize(
    ("expression", "zone_name"),
    [
        # New Year's midnight in Tehran is 20:30 UTC on 31 December of the year before, so
        # the rule needs years 2029, 2030, 2036, 2037, ...: a long list once spelled out.
        pytest.param("cron(0 0 1 1 ? 2030/7)", "Asia/Tehran", id="year-step-east"),
        pytest.param("cron(30 23 31 12 ? 2030/3)", "America/New_York", id="year-step-west"),
    ],
)
def test_rules_stay_within_length_limit_when_years_shift(expression: str, zone_name: str) -> None:
    """EventBridge rejects a ScheduleExpression longer than 256 characters (PutRule)."""
    rules = utc_rule_expressions(Schedule.parse(expression, zone_name), start=START)
    too_long = [(len(rule), rule) for rule in rules if len(rule) > MAX_RULE_LENGTH]
    assert too_long == []


@pytest.mark.parametrize(
    ("expression", "zone_name", "start"),
    [
        # Four offsets in one horizon: -11, -10, then +13, +14 after the skipped day.
        pytest.param("cron(*/7 * * * ? *)", "Pacific/Apia", "2011-06-01", id="apia-2011"),
        pytest.param("cron(0/7 0-2,22-23 L * ? *)", "Pacific/Apia", "2011-06-01", id="apia-L"),
        pytest.param("cron(*/7 * ? * 2#1 *)", "Australia/Lord_Howe", "2026-01-01", id="lh"),
        pytest.param("cron(3/7 22-23,0-1 ? * 1L *)", "Pacific/Chatham", "2026-01-01", id="ch"),
    ],
)
def test_never_more_than_four_rules(expression: str, zone_name: str, start: str) -> None:
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    rules = utc_rule_expressions(Schedule.parse(expression, zone_name), start=begin)
    assert 1 <= len(rules) <= MAX_RULES, rules
    for rule in rules:
        assert len(rule) <= MAX_RULE_LENGTH, rule
        AWSCronExpressionValidator.validate(rule[len("cron(") : -1])


@pytest.mark.parametrize(
    ("expression", "zone_name"),
    [
        ("rate(5 minutes)", "Europe/Berlin"),
        ("rate(1 day)", "Asia/Tehran"),
        ("rate(1 hour)", "America/New_York"),
    ],
)
def test_rate_passes_through_unchanged(expression: str, zone_name: str) -> None:
    schedule = Schedule.parse(expression, zone_name)
    assert utc_rule_expressions(schedule, start=START) == [expression]


@pytest.mark.parametrize(
    ("expression", "zone_name", "only_run"),
    [
        # 23:30 on New Year's Eve in New York is already next year in UTC.
        pytest.param(
            "cron(30 23 31 12 ? 2026)",
            "America/New_York",
            "2027-01-01T04:30",
            id="year-rolls-forward",
        ),
        # 01:00 on New Year's Day in Tehran is still last year in UTC.
        pytest.param(
            "cron(0 1 1 1 ? 2027)",
            "Asia/Tehran",
            "2026-12-31T21:30",
            id="year-rolls-back",
        ),
        # 00:30 on 1 March in Auckland (+13) is the last day of February in UTC.
        pytest.param(
            "cron(30 0 1 MAR ? 2027)",
            "Pacific/Auckland",
            "2027-02-28T11:30",
            id="month-rolls-back",
        ),
        # 23:45 on the last day of February 2028 (the 29th) in Los Angeles is 1 March in UTC.
        pytest.param(
            "cron(45 23 L FEB ? 2028)",
            "America/Los_Angeles",
            "2028-03-01T07:45",
            id="L-rolls-forward-leap-year",
        ),
    ],
)
def test_rules_catch_a_single_run_across_a_date_line(
    expression: str, zone_name: str, only_run: str
) -> None:
    schedule = Schedule.parse(expression, zone_name)
    end = datetime(2029, 1, 1, tzinfo=UTC)
    rules = utc_rule_expressions(schedule, start=START, horizon=end - START)
    due = [t for t in rule_firings(rules, START, end) if schedule.is_due(t)]
    assert due == [datetime.fromisoformat(only_run).replace(tzinfo=UTC)], rules


@pytest.mark.parametrize(
    ("expression", "zone_name"),
    [
        pytest.param("cron(0 0,23 L * ? *)", "Europe/Berlin", id="berlin-L-around-midnight"),
        pytest.param("cron(0 22-23,0-1 * * ? *)", "Europe/Berlin", id="berlin-every-day"),
        pytest.param("cron(0 0-1 * 1 ? *)", "Europe/London", id="london-january"),
        pytest.param("cron(30 0 1 * ? *)", "America/New_York", id="new-york-first"),
    ],
)
def test_no_two_rules_fire_the_same_due_instant(expression: str, zone_name: str) -> None:
    """Two rules firing one run would send the executor that run twice (its dedupe copes,
    but the rules are meant to be merged, not overlapping)."""
    schedule = Schedule.parse(expression, zone_name)
    rules = utc_rule_expressions(schedule, start=START)
    due = [t for t in rule_firings(rules, *YEAR_2026) if schedule.is_due(t)]
    twice = sorted({t for t in due if due.count(t) > 1})
    assert twice == [], f"{rules} both fire at {[f'{t:%F %H:%MZ}' for t in twice[:3]]}"
