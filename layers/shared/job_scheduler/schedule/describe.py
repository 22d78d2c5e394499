"""Schedules in words, for admins: cron-descriptor with EventBridge day numbering."""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, FormatError, Options

from job_scheduler.schedule.expression import AtExpression, CronExpression, RateExpression
from job_scheduler.schedule.zoned import Schedule


def describe(schedule: Schedule) -> str:
    """E.g. 'At 22:00 (Asia/Tehran)', 'Once, on 2026-12-04 at 09:30 (Asia/Tehran)' or
    'Every 5 minutes (counted from when the rule was created, in UTC)'."""
    expression = schedule.expression
    if isinstance(expression, RateExpression):
        value, unit = expression.text[5:-1].split(" ")
        return f"Every {value} {unit} (counted from when the rule was created, in UTC)"
    if isinstance(expression, AtExpression):
        return describe_once(schedule, expression)
    return f"{describe_cron(expression)} ({schedule.timezone})"


def describe_once(schedule: Schedule, at: AtExpression) -> str:
    """A one-off in words; a time the clocks skip says when it really runs (fold=0)."""
    said = f"Once, on {at.wall:%Y-%m-%d} at {at.wall:%H:%M} ({schedule.timezone})"
    runs = schedule.wall_time(schedule.to_instant(at.wall))
    if runs != at.wall:
        said += f"; the clocks skip {at.wall:%H:%M} that day, so it runs at {runs:%H:%M}"
    return said


def describe_cron(cron: CronExpression) -> str:
    options = Options()
    options.day_of_week_start_index_zero = False  # EventBridge: 1 = Sunday
    options.use_24hour_time_format = True
    minute, hour, dom, month, dow, year = cron.fields
    if dow == "L":  # cron-descriptor cannot read a bare L; in day-of-week it is Saturday
        dow = "7"
    # Quartz's 7-field form (seconds first) is what cron-descriptor reads unambiguously.
    quartz = f"0 {minute} {hour} {dom} {month} {dow} {year}"
    try:
        return ExpressionDescriptor(quartz, options).get_description()
    except FormatError:  # a valid expression the describer cannot phrase: say it plainly
        return cron.text
