"""Schedules in words, for admins: cron-descriptor with EventBridge day numbering."""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, FormatError, Options

from job_scheduler.schedule.expression import CronExpression, RateExpression
from job_scheduler.schedule.zoned import Schedule


def describe(schedule: Schedule) -> str:
    """E.g. 'At 22:00 (Asia/Tehran)' or 'Every 5 minutes (not tied to a timezone)'."""
    expression = schedule.expression
    if isinstance(expression, RateExpression):
        value, unit = expression.text[5:-1].split(" ")
        return f"Every {value} {unit} (counted from when the rule was created, in UTC)"
    return f"{describe_cron(expression)} ({schedule.timezone})"


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
