"""Every check of a job's fields, in one place: coded jobs' defaults at registration, and
admins' jobs from the API and the CLI when they are created or edited.

Two kinds of function: converters take a field as it arrived (JSON, the command line) and
return it in its stored form or raise ``InvalidJob`` naming the field; checks look at a
whole job (the schedule against its timezone, ids against the database).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg

from job_scheduler.adapters.db import database_errors
from job_scheduler.errors import InvalidExpression, InvalidJob, ScheduleError
from job_scheduler.model import OverlapPolicy
from job_scheduler.schedule.zoned import Schedule

JOB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
MAX_GRACE_SECONDS = 86_400
MAX_TARGET_IDS = 10_000
MAX_DESCRIPTION = 1000
TARGET_FIELDS = ("include_user_ids", "exclude_user_ids", "pack_ids")
_TARGET_TABLES = {
    "include_user_ids": "users",
    "exclude_user_ids": "users",
    "pack_ids": "character_packs",
}


class JobFields(Protocol):
    """What the whole-job checks read: a ``Job``, or a ``CustomJobSpec`` before it is one."""

    cron_expression: str
    timezone: str
    misfire_grace_seconds: int
    overlap_policy: str
    include_user_ids: Sequence[int]
    exclude_user_ids: Sequence[int]
    pack_ids: Sequence[int]


# -- checks of a whole job -----------------------------------------------------------------------


def check_name(name: object) -> str:
    if not isinstance(name, str) or not JOB_NAME_RE.fullmatch(name):
        raise InvalidJob(
            f"Job name {name!r} must be 1-48 lowercase letters, digits or '-', "
            "starting with a letter or digit.",
            "name",
        )
    return name


def check_schedule(expression: str, timezone: str) -> Schedule:
    """The parsed schedule; a problem names ``cron_expression`` or ``timezone``."""
    try:
        return Schedule.parse(expression, timezone)
    except InvalidExpression as exc:
        raise InvalidJob(str(exc), "cron_expression") from exc
    except ScheduleError as exc:  # UnknownTimezone
        raise InvalidJob(str(exc), "timezone") from exc


def check_policies(misfire_grace_seconds: int, overlap_policy: str) -> None:
    if overlap_policy not in tuple(OverlapPolicy):
        choices = tuple(policy.value for policy in OverlapPolicy)
        raise InvalidJob(f"overlap_policy must be one of {choices}", "overlap_policy")
    if not 0 <= misfire_grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidJob(
            f"misfire_grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (a day); it"
            " must not be negative",
            "misfire_grace_seconds",
        )


def check_target_sizes(job: JobFields) -> None:
    for name in TARGET_FIELDS:
        if len(getattr(job, name)) > MAX_TARGET_IDS:
            raise InvalidJob(f"{name} may hold at most {MAX_TARGET_IDS} ids", name)


def check_targets_exist(conn: psycopg.Connection, job: JobFields) -> None:
    """Refuse ids of users or packs that do not exist (a typo would silently reach nobody)."""
    for name, table in _TARGET_TABLES.items():
        wanted = list(getattr(job, name))
        if not wanted:
            continue
        with database_errors(f"checking {name}"):
            row = conn.execute(
                f"SELECT array(SELECT unnest(%s::bigint[]) EXCEPT SELECT id FROM {table}"
                " ORDER BY 1) AS missing",
                (wanted,),
            ).fetchone()
        if row["missing"]:
            kind = "users" if table == "users" else "character packs"
            raise InvalidJob(f"{name}: there are no {kind} with ids {row['missing']}", name)


def check_job_fields(job: JobFields) -> None:
    """Every check of a whole job that needs no database."""
    check_schedule(job.cron_expression, job.timezone)
    check_policies(job.misfire_grace_seconds, job.overlap_policy)
    check_target_sizes(job)


# -- converters of fields as they arrive ---------------------------------------------------------


def text(value: Any, field: str, limit: int = MAX_DESCRIPTION) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidJob(f"{field} must be text of at most {limit} characters", field)
    return value.strip()


def flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidJob(f"{field} must be true or false", field)
    return value


def count(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJob(f"{field} must be a whole number", field)
    return value


def ids(value: Any, field: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, int) and not isinstance(item, bool) and 0 < item < 2**63 for item in value
    ):
        raise InvalidJob(f"{field} must be a list of positive whole numbers (ids)", field)
    return tuple(sorted(set(value)))


def message(value: Any, field: str) -> dict[str, Any]:
    from job_scheduler.messages.message_config import MessageConfig  # Jinja: admin side only

    if not isinstance(value, dict):
        raise InvalidJob("message must be an object: {text, parse_mode, silent}", field)
    return MessageConfig.from_json(value).to_json()


# API field -> (column, converter). Message fields exist for custom-message jobs only.
FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "expression": ("cron_expression", lambda value, field: text(value, field, 256)),
    "timezone": ("timezone", lambda value, field: text(value, field, 64)),
    "enabled": ("enabled", flag),
    "include_user_ids": ("include_user_ids", ids),
    "exclude_user_ids": ("exclude_user_ids", ids),
    "pack_ids": ("pack_ids", ids),
    "misfire_grace_seconds": ("misfire_grace_seconds", count),
    "overlap_policy": ("overlap_policy", lambda value, field: text(value, field, 16)),
    "description": ("description", text),
    "message": ("message_config", message),
}
CUSTOM_ONLY = ("description", "message")


def convert(field: str, value: Any) -> tuple[str, Any]:
    """The column and stored value of one API field."""
    column, converter = FIELDS[field]
    return column, converter(value, field)
