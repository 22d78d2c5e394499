"""What every ``jobsctl`` command shares: argument types, the environment, the actor."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path

from job_scheduler import observability
from job_scheduler.adapters.db import Conn, get_connection
from job_scheduler.config import Settings


def actor() -> str:
    """Who the audit log names for a change made here."""
    return f"cli:{getpass.getuser()}"


RUN_ENV = Path(".local") / "run.env"  # what `make run` writes for a second terminal
_CHECKOUT = Path(__file__).resolve().parents[4]  # the repository, when run from a checkout


def environment() -> Settings:
    """Settings and logging for commands that talk to the services (logs go to stderr).

    With no DATABASE_URL set and a ``make run`` going, its ``.local/run.env`` is read (as
    `. .local/run.env` would), and stderr says so."""
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        for candidate in (Path.cwd() / RUN_ENV, _CHECKOUT / RUN_ENV):
            if candidate.is_file():
                found = run_env(candidate)
                env = {**found, **{k: v for k, v in env.items() if v}}
                for name, value in found.items():  # boto3 reads its credentials from here
                    if name.startswith("AWS_") and not os.environ.get(name):
                        os.environ[name] = value
                print(f"jobsctl: using {candidate} (the running make run; set DATABASE_URL"
                      " to use another database)", file=sys.stderr)  # fmt: skip
                break
    settings = Settings.from_env(env)
    observability.configure(settings, stream=sys.stderr)
    return settings


def run_env(path: Path) -> dict[str, str]:
    """The ``export NAME='value'`` lines of a run.env, as a mapping."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def connection(settings: Settings) -> Conn:
    return get_connection(settings.database_url)


def ids(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write ids as whole numbers separated by commas, e.g. 3,7,12"
        ) from None


def instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ISO 8601; write e.g. 2027-03-27T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; add Z or e.g. +03:30")
    return moment


def count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"-n takes a whole number from 1 to 1000, not {text!r}")
    return int(text)
