"""``jobsctl validate|next|rules``: schedules, without any service."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from job_scheduler.cli.options import count, instant
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule


def add_commands(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check an expression and describe it")
    validate.add_argument("expression", help='e.g. "cron(0 22 * * ? *)" or "rate(5 minutes)"')
    validate.add_argument("--tz", default="UTC", help="IANA timezone (default UTC)")
    validate.set_defaults(run=_validate)

    upcoming = commands.add_parser("next", help="the next fire instants in a timezone")
    upcoming.add_argument("expression")
    upcoming.add_argument("--tz", required=True, help="IANA timezone, e.g. Asia/Tehran")
    upcoming.add_argument("--after", type=instant, help="ISO 8601 instant (default now)")
    upcoming.add_argument("-n", type=count, default=5, help="how many (default 5)")
    upcoming.set_defaults(run=_next)

    rules = commands.add_parser("rules", help="the UTC EventBridge expression(s) to install")
    rules.add_argument("expression")
    rules.add_argument("--tz", required=True)
    rules.set_defaults(run=_rules)


def _validate(args: argparse.Namespace) -> int:
    print(describe(Schedule.parse(args.expression, args.tz)))
    return 0


def _next(args: argparse.Namespace) -> int:
    schedule = Schedule.parse(args.expression, args.tz)
    for moment in schedule.next_runs(args.after or datetime.now(UTC), args.n):
        print(moment.astimezone(schedule.zone).isoformat())
    return 0


def _rules(args: argparse.Namespace) -> int:
    for expression in utc_rule_expressions(Schedule.parse(args.expression, args.tz)):
        print(expression)
    return 0
