"""What every ``jobsctl`` command shares: argument types, the environment, the actor."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

import psycopg

from job_scheduler import observability
from job_scheduler.adapters.db import get_connection
from job_scheduler.config import Settings


def actor() -> str:
    """Who the audit log names for a change made here."""
    return f"cli:{getpass.getuser()}"


def environment() -> Settings:
    """Settings and logging for commands that talk to the services (logs go to stderr)."""
    settings = Settings.from_env()
    observability.configure(settings, stream=sys.stderr)
    return settings


def connection(settings: Settings) -> psycopg.Connection:
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
