"""Every check of a job's fields, in one place: coded jobs' defaults at registration, and
admins' jobs from the API and the CLI when they are created or edited.

Two kinds of function: converters take a field as it arrived (JSON, the command line) and
return it in its stored form or raise ``InvalidJob`` naming the field; checks look at a
whole job (the schedule against its timezone, ids against the database).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import InvalidExpression, InvalidJob, ScheduleError
from job_scheduler.model import OverlapPolicy
from job_scheduler.schedule.zoned import Schedule, load_zone

JOB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
MAX_GRACE_SECONDS = 86_400
MAX_TARGET_IDS = 10_000
MAX_DESCRIPTION = 1000
MOMENT_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?"
)
MOMENT_EXAMPLE = "2026-12-04T09:00 (in the job's timezone) or 2026-12-04T09:00+03:30"
WINDOW_FIELDS = ("starts_at", "ends_at")
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
    starts_at: datetime | None
    ends_at: datetime | None


# -- checks of a whole job -----------------------------------------------------------------------


def check_name(name: object) -> str:
    if not isinstance(name, str) or not JOB_NAME_RE.fullmatch(name):
        raise InvalidJob(
            f"Job name {name!r} must be 1-48 lowercase letters, digits or '-', "
            "starting with a letter or digit.",
            "name",
        )
    return name


def check_schedule(expression: str, timezone: str, now: datetime | None = None) -> Schedule:
    """The parsed schedule; a problem names ``cron_expression`` or ``timezone``. With
    ``now``, a one-off whose time has passed is refused too (the editor's live check)."""
    try:
        schedule = Schedule.parse(expression, timezone)
    except InvalidExpression as exc:
        raise InvalidJob(str(exc), "cron_expression") from exc
    except ScheduleError as exc:  # UnknownTimezone
        raise InvalidJob(str(exc), "timezone") from exc
    if now is not None and schedule.once_at is not None and schedule.once_at <= now:
        raise InvalidJob(_passed(expression, timezone, schedule.once_at, now), "cron_expression")
    return schedule


def _passed(expression: str, timezone: str, once: datetime, now: datetime) -> str:
    at, it_is = _local(once, timezone), _local(now, timezone)
    return (
        f"{expression} in {timezone} is {at}, which has passed (it is now {it_is}); pick a"
        " time still to come."
    )


def _local(moment: datetime, timezone: str) -> str:
    """An instant as the job's admins read it: in its (already checked) timezone."""
    return moment.astimezone(load_zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


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


def check_targets_exist(conn: Conn, job: JobFields) -> None:
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


def check_window(job: JobFields) -> None:
    """A window belongs to repeating schedules, and ends after it starts."""
    bounds = [name for name in WINDOW_FIELDS if getattr(job, name) is not None]
    if bounds and job.cron_expression.strip().startswith("at("):
        raise InvalidJob(
            f"{bounds[0]}: a one-off at() job runs once at its time; starts_at and ends_at"
            " are for repeating schedules (cron or rate). Clear them, or make it repeat.",
            bounds[0],
        )
    if job.starts_at is not None and job.ends_at is not None and job.ends_at <= job.starts_at:
        raise InvalidJob(
            f"ends_at ({_local(job.ends_at, job.timezone)}) must be after starts_at"
            f" ({_local(job.starts_at, job.timezone)}); move the end later or the start"
            " earlier.",
            "ends_at",
        )


def check_timely(job: JobFields, now: datetime, changed: Sequence[str] | None = None) -> None:
    """Refuse a one-off whose time has passed, or an end already behind us: such a job
    would never run. ``changed``: the columns an edit changes (None: a new job), so that
    editing anything else of a job that is already done stays possible."""
    retimed = changed is None or {"cron_expression", "timezone"} & set(changed)
    check_schedule(job.cron_expression, job.timezone, now if retimed else None)
    if job.ends_at is not None and (changed is None or "ends_at" in changed) and job.ends_at <= now:
        raise InvalidJob(
            f"ends_at ({_local(job.ends_at, job.timezone)}) has already passed; pick a later end,"
            " or disable the job to stop it now.",
            "ends_at",
        )


def check_job_fields(job: JobFields) -> None:
    """Every check of a whole job that needs no database."""
    check_schedule(job.cron_expression, job.timezone)
    check_policies(job.misfire_grace_seconds, job.overlap_policy)
    check_target_sizes(job)
    check_window(job)


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


def moment(value: Any, field: str) -> datetime | None:
    """An ISO 8601 date and time, with an offset or without (then read in the job's
    timezone by ``in_job_zone``); null or "" clears it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not MOMENT_RE.fullmatch(value.strip()):
        raise InvalidJob(f"{field} must be a date and time like {MOMENT_EXAMPLE}, or null", field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidJob(f"{field}: {value!r} is no such date or time ({exc})", field) from exc
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC)


def in_job_zone(columns: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """The converted columns with naive ``starts_at``/``ends_at`` read in ``timezone``
    (the one given with them, else the job's), as schedules are: fold=0."""
    zone_name = columns.get("timezone") or timezone
    resolved = dict(columns)
    for name in WINDOW_FIELDS:
        value = resolved.get(name)
        if value is None or value.tzinfo is not None:
            continue
        try:
            zone = load_zone(zone_name)
        except ScheduleError as exc:
            raise InvalidJob(str(exc), "timezone") from exc
        resolved[name] = value.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return resolved


def message(value: Any, field: str) -> dict[str, Any]:
    from job_scheduler.messages.message_config import MessageConfig  # Jinja: admin side only

    if not isinstance(value, dict):
        raise InvalidJob("message must be an object: {text, parse_mode, silent, photo, …}", field)
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
    "starts_at": ("starts_at", moment),
    "ends_at": ("ends_at", moment),
}
CUSTOM_ONLY = ("description", "message")


def convert(field: str, value: Any) -> tuple[str, Any]:
    """The column and stored value of one API field."""
    column, converter = FIELDS[field]
    return column, converter(value, field)
