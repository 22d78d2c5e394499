"""Schedules: EventBridge expressions, read in an IANA timezone, turned into UTC rules.

>>> s = Schedule.parse("cron(30 2 * * ? *)", "Europe/Berlin")
>>> s.next_runs(after, 3)        # local occurrences as UTC instants (fold=0 semantics)
>>> utc_rule_expressions(s)      # what to install on EventBridge (a superset)
>>> s.is_due(fired_at)           # drop the superset's extra firings
"""

from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.expression import CronExpression, RateExpression, parse_expression
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule, as_utc, load_zone

__all__ = [
    "CronExpression",
    "RateExpression",
    "Schedule",
    "as_utc",
    "describe",
    "load_zone",
    "parse_expression",
    "utc_rule_expressions",
]
