"""``jobsctl prune``: delete history older than HISTORY_DAYS now (or say what would go)."""

from __future__ import annotations

import argparse
from typing import Any

from job_scheduler.cli.options import connection, environment


def add_commands(commands: Any) -> None:
    prune = commands.add_parser(
        "prune", help="delete executions, deliveries and audit rows older than HISTORY_DAYS"
    )
    prune.add_argument("--days", type=_days, help="keep this many days (default: HISTORY_DAYS)")
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted")
    prune.set_defaults(run=_prune)


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of days, at least 1")
    return int(text)


def _prune(args: argparse.Namespace) -> int:
    from job_scheduler.jobs.pruning import prune

    settings = environment()
    days = settings.history_days if args.days is None else args.days
    print(prune(connection(settings), days, dry_run=args.dry_run).summary())
    return 0
