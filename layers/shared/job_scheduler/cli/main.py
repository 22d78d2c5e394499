"""``jobsctl``: schedules, jobs and their history, people's Rastar links and admin tokens,
from the command line.

Exit codes say whose fault a failure was (``errors.py``): 0 done; 2 the input was wrong,
names something that does not exist, or conflicts with what is there (the message says
what to fix); 1 a service failed or the deployment is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from job_scheduler.cli import accounts, bot, control, jobs, maintenance, schedules
from job_scheduler.errors import (
    Conflict,
    InputError,
    InternalError,
    JobSchedulerError,
    NotFound,
    Unavailable,
)

# The one place a package error becomes an exit code: by its fault root.
EXIT_CODES: dict[type[JobSchedulerError], int] = {
    InputError: 2,
    NotFound: 2,
    Conflict: 2,
    Unavailable: 1,
    InternalError: 1,
}


def exit_code(exc: JobSchedulerError) -> int:
    for fault, code in EXIT_CODES.items():
        if isinstance(exc, fault):
            return code
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except JobSchedulerError as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"jobsctl: {exc}{where}", file=sys.stderr)
        return exit_code(exc)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="jobsctl", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(required=True, metavar="COMMAND")
    schedules.add_commands(commands)
    jobs.add_commands(commands)
    accounts.add_commands(commands)
    bot.add_commands(commands)
    maintenance.add_commands(commands)
    control.add_commands(commands)
    return root
