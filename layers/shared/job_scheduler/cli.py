"""``jobsctl``: schedules from the command line, and the startup sync on demand.

Exit codes: 0 done, 2 the input was wrong (the message says what to fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from .errors import JobSchedulerError, ScheduleError
from .schedule import Schedule, describe, utc_rule_expressions

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ScheduleError as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except JobSchedulerError as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobsctl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check an expression and describe it")
    validate.add_argument("expression", help='e.g. "cron(0 22 * * ? *)" or "rate(5 minutes)"')
    validate.add_argument("--tz", default="UTC", help="IANA timezone (default UTC)")
    validate.set_defaults(run=_validate)

    upcoming = commands.add_parser("next", help="the next fire instants in a timezone")
    upcoming.add_argument("expression")
    upcoming.add_argument("--tz", required=True, help="IANA timezone, e.g. Asia/Tehran")
    upcoming.add_argument("--after", type=_instant, help="ISO 8601 instant (default now)")
    upcoming.add_argument("-n", type=_count, default=5, help="how many (default 5)")
    upcoming.set_defaults(run=_next)

    rules = commands.add_parser("rules", help="the UTC EventBridge expression(s) to install")
    rules.add_argument("expression")
    rules.add_argument("--tz", required=True)
    rules.set_defaults(run=_rules)

    sync = commands.add_parser("sync", help="run the startup sync against this environment")
    sync.set_defaults(run=_sync)
    return parser


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ISO 8601; write e.g. 2027-03-27T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; add Z or e.g. +03:30")
    return moment


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"-n takes a whole number from 1 to 1000, not {text!r}")
    return int(text)


def _validate(args: argparse.Namespace) -> int:
    print(describe(Schedule.parse(args.expression, args.tz)))
    return 0


def _next(args: argparse.Namespace) -> int:
    schedule = Schedule.parse(args.expression, args.tz)
    for instant in schedule.next_runs(args.after or datetime.now(UTC), args.n):
        print(instant.astimezone(schedule.zone).isoformat())
    return 0


def _rules(args: argparse.Namespace) -> int:
    for expression in utc_rule_expressions(Schedule.parse(args.expression, args.tz)):
        print(expression)
    return 0


def _sync(args: argparse.Namespace) -> int:
    from . import observability
    from .config import get_settings
    from .startup import run_startup

    settings = get_settings()
    observability.configure(settings, stream=sys.stderr)
    print(json.dumps(run_startup(settings).as_dict(), indent=2))
    return 0
